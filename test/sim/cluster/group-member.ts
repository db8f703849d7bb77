import { Skein, type GroupStatus, type GroupSubscription, type TopicDefinition } from '../../../sdk/index.js';
import type { SimProcess } from './clock.js';
import type { SimCluster } from './sim-cluster.js';

/**
 * One member's ownership of one partition, from its own log: from the
 * `assigned` event to the end of its lease, its `revoked` or `lost` event, its
 * failure or its crash, whichever came first; and every record its handler
 * saw meanwhile, in the order it saw them.
 */
export interface Stint {
  readonly member: string;
  readonly memberId: string;
  readonly epoch: number;
  readonly partition: number;
  readonly startMs: number;
  endMs: number | null;
  endReason: string | null;
  readonly processed: Array<{ offset: number; value: number; atMs: number }>;
}

export interface MemberSettings {
  group: string;
  topic: TopicDefinition<number, string>;
  sessionTimeoutMs: number;
}

/** What the Membership inside a GroupSubscription keeps that the checker reads (one cast, here). */
interface MembershipInternals {
  memberId: string;
  epoch: number;
  leaseEndMs: number;
  armLeaseTimer(): void;
}

/**
 * A group member of the simulated world: a process of its own (so a crash
 * stops it dead and a pause stalls it), with its own client and a push
 * subscription that auto-commits. It keeps the log the checker reads:
 * stints, commits acknowledged to it, and anything it did that a member must
 * never do (process a record outside a stint or past its lease).
 */
export class SimMember {
  readonly stints: Stint[] = [];
  /** Offsets the coordinator acknowledged to this member, with when. */
  readonly commits: Array<{ partition: number; offset: number; atMs: number }> = [];
  readonly violations: string[] = [];
  readonly failures: string[] = [];
  private process: SimProcess | null = null;
  private skein: Skein | null = null;
  private subscription: GroupSubscription<number, string> | null = null;
  private membership: MembershipInternals | null = null;
  private readonly open = new Map<number, Stint>();
  /** The end of the last lease a heartbeat answer gave (the lease under which open stints run). */
  private leaseEndMs = 0;
  restarts = 0;

  constructor(
    readonly name: string,
    private readonly sim: SimCluster,
    private readonly settings: MemberSettings,
  ) {}

  get running(): boolean {
    return this.process !== null && !this.process.dead;
  }

  get paused(): boolean {
    return this.process?.paused === true;
  }

  /** Starts a fresh process: a new client, a new subscription (static under `instanceId` when given). */
  start(instanceId: string | null): void {
    if (this.running) throw new Error(`${this.name} is running`);
    this.process = { name: this.name, dead: false };
    this.restarts++;
    const { clock } = this.sim;
    clock.runAs(this.process, () => {
      const skein = new Skein({ brokers: this.sim.bootstrap, clientId: this.name });
      const subscription = skein.subscribe<number, string>({
        group: this.settings.group,
        topic: this.settings.topic,
        from: 'earliest',
        sessionTimeoutMs: this.settings.sessionTimeoutMs,
        ...(instanceId === null ? {} : { instanceId }),
        handler: (record) => this.processed(record.partition, record.offset, record.value),
      });
      this.skein = skein;
      this.subscription = subscription;
      this.membership = (subscription as unknown as { membership: MembershipInternals }).membership;
      this.watchLease(this.membership);
      void this.follow(subscription);
    });
  }

  /** SIGKILL: nothing of the process runs again; its open stints end now, or when their lease did if that was earlier. */
  crash(): void {
    if (!this.running) return;
    this.process!.dead = true;
    this.sim.network.releaseProcess(this.process!);
    this.endAll(Math.min(this.sim.clock.nowMs, this.leaseEndMs), 'crashed');
    this.detach();
  }

  /** A graceful close (drains, commits and leaves), then the process exits. */
  async close(limitMs = 60_000): Promise<void> {
    if (!this.running || this.skein === null) return;
    const { clock } = this.sim;
    const skein = this.skein;
    await clock.settle(clock.runAs(this.process!, () => skein.close()), limitMs, `${this.name} close`);
    this.endAll(clock.nowMs, 'closed');
    // The process exits once its client closed.
    this.process!.dead = true;
    this.sim.network.releaseProcess(this.process!);
    this.detach();
  }

  pause(): void {
    if (this.running) this.sim.clock.pause(this.process!);
  }

  resume(): void {
    if (this.process?.paused !== true) return;
    this.sim.clock.resume(this.process);
    this.sim.network.resume(this.process);
  }

  private detach(): void {
    this.skein = null;
    this.subscription = null;
    this.membership = null;
    this.leaseEndMs = 0;
  }

  /** Every lease a heartbeat answer gives passes through armLeaseTimer: note its end. */
  private watchLease(membership: MembershipInternals): void {
    const arm = membership.armLeaseTimer.bind(membership);
    membership.armLeaseTimer = () => {
      if (this.membership === membership) this.leaseEndMs = membership.leaseEndMs;
      arm();
    };
  }

  private processed(partition: number, offset: number, value: number): void {
    const atMs = this.sim.clock.nowMs;
    const stint = this.open.get(partition);
    if (stint === undefined) return this.violation(`${this.name} processed ${partition}/${offset} at ${atMs} ms without owning it`);
    if (atMs >= this.leaseEndMs) this.violation(`${this.name} processed ${partition}/${offset} at ${atMs} ms, past its lease (${this.leaseEndMs} ms)`);
    stint.processed.push({ offset, value, atMs });
  }

  /** The first few say what went wrong; thousands more would only bury them. */
  private violation(text: string): void {
    if (this.violations.length < 10) this.violations.push(text);
  }

  private async follow(subscription: GroupSubscription<number, string>): Promise<void> {
    for await (const event of subscription.status()) {
      if (this.subscription !== subscription) return;
      this.observe(event);
    }
  }

  private observe(event: GroupStatus): void {
    const nowMs = this.sim.clock.nowMs;
    switch (event.type) {
      case 'assigned':
        for (const { partition } of event.partitions) {
          if (this.open.has(partition)) this.violation(`${this.name} was given ${partition} at ${nowMs} ms while it owned it`);
          const stint: Stint = { member: this.name, memberId: this.membership!.memberId, epoch: this.membership!.epoch, partition, startMs: nowMs, endMs: null, endReason: null, processed: [] };
          this.open.set(partition, stint);
          this.stints.push(stint);
        }
        return;
      case 'revoked':
        return this.end(event.partitions, nowMs, 'revoked');
      case 'lost':
        // Dropped when the lease was found over, which may be later than it ended (a stalled process): the lease bounds it.
        return this.end(event.partitions, Math.min(nowMs, this.leaseEndMs), `lost (${event.reason})`);
      case 'committed':
        for (const o of event.offsets) this.commits.push({ partition: o.partition, offset: o.offset, atMs: nowMs });
        return;
      case 'failed':
        this.failures.push(`${nowMs} ms: ${event.error.code}: ${event.error.message}`);
        return this.endAll(nowMs, 'failed');
      default:
        return;
    }
  }

  private end(partitions: ReadonlyArray<{ partition: number }>, atMs: number, reason: string): void {
    for (const { partition } of partitions) {
      const stint = this.open.get(partition);
      if (stint === undefined) continue;
      stint.endMs = Math.max(stint.startMs, atMs);
      stint.endReason = reason;
      this.open.delete(partition);
    }
  }

  private endAll(atMs: number, reason: string): void {
    this.end([...this.open.keys()].map((partition) => ({ partition })), atMs, reason);
  }
}
