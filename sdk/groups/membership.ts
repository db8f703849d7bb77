import { randomBytes } from 'node:crypto';
import { systemClock } from '../../transport/clock.js';
import { isSkeinError, SkeinError } from '../../transport/errors.js';
import { groupLimits } from '../../transport/limits.js';
import { groupMethods, type AssignedPartition, type CommitResponse, type FindCoordinatorResponse, type HeartbeatResponse, type MemberProgress, type OffsetEntry } from '../../transport/protocol/groups.js';
import { readCommitResponse, readFindCoordinatorResponse, readHeartbeatResponse } from '../../transport/protocol/responses.js';
import type { Cluster } from '../cluster.js';

/**
 * One member of a consumer group, as KIP-848 has it: a heartbeat request on
 * its own timer (never behind the application's processing) that joins,
 * keeps the member alive, reports what it holds and learns what it owns.
 *
 * The member owns a partition from the answer that gives it until it
 * releases it. A partition the answer no longer lists is being revoked: the
 * consumer stops reading it, drains, commits and only then does the member
 * stop listing it, which tells the coordinator it may give it to another
 * member. The member may hand out records only while its **lease** holds:
 * the send time of the last answered heartbeat plus the session timeout,
 * less a margin. The coordinator gives a partition away only after any such
 * lease has ended, so no two members ever consume one partition at once.
 * When the lease runs out (the coordinator unreachable, the process stalled)
 * everything is dropped at once, nothing committed, and the member rejoins
 * under a new id (`lost`).
 */
export interface OwnedPartition {
  readonly topic: string;
  readonly topicId: number;
  readonly partition: number;
  /** The group's committed offset when it was given: where to start (null: the consumer's `from`). */
  readonly committed: number | null;
}

export interface MembershipHooks {
  /** Partitions given to this member: start reading them (after onAssigned). */
  assigned(partitions: OwnedPartition[]): Promise<void>;
  /** Partitions taken back: stop, drain, commit; resolving releases them. */
  revoked(partitions: OwnedPartition[]): Promise<void>;
  /** The lease ended or the coordinator forgot this member: drop everything now, commit nothing. */
  lost(partitions: OwnedPartition[], reason: string): void;
  /** A member that cannot go on (fenced instance id, a full group, bad configuration). */
  failed(error: SkeinError): void;
  joined(memberId: string, epoch: number): void;
  /** How consumption of the partitions held is going: sent with each heartbeat (describeGroup shows it). */
  progress(): MemberProgress[];
}

export interface MembershipOptions {
  group: string;
  topics: string[];
  instanceId: string | null;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
}

/** Answers that end the member: nothing a rejoin would change. */
const fatalCodes = new Set(['FENCED_INSTANCE_ID', 'GROUP_FULL', 'INVALID_CONFIG', 'MALFORMED_REQUEST', 'NOT_AUTHORIZED', 'UNKNOWN_METHOD', 'UNSUPPORTED_VERSION']);
/** Answers after which the member starts afresh under a new id. */
const rejoinCodes = new Set(['UNKNOWN_MEMBER', 'FENCED_MEMBER_EPOCH']);

export class Membership {
  memberId = newMemberId();
  epoch = 0;
  private coordinator: FindCoordinatorResponse | null = null;
  private readonly owned = new Map<string, OwnedPartition & { revoking: boolean }>();
  private leaseEndMs = 0;
  private intervalMs: number = groupLimits.heartbeatIntervalMsDefault;
  private stopped = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private cancelLeaseTimer: (() => void) | null = null;
  private readonly marginMs: number;

  constructor(
    private readonly cluster: Cluster,
    private readonly options: MembershipOptions,
    private readonly hooks: MembershipHooks,
  ) {
    this.marginMs = Math.max(100, Math.floor(options.sessionTimeoutMs / 20));
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Whether records of `key` may be handed out now: owned, not being revoked, and within the lease. */
  mayConsume(topic: string, partition: number): boolean {
    const owned = this.owned.get(`${topic}/${partition}`);
    return owned !== undefined && !owned.revoking && systemClock.nowMs() < this.leaseEndMs;
  }

  assignment(): OwnedPartition[] {
    return [...this.owned.values()].filter((o) => !o.revoking).map(({ revoking: _, ...o }) => o);
  }

  /** Commits offsets of partitions this member owns, at its current epoch (repeated after a move, it stores the same offsets). */
  async commit(offsets: OffsetEntry[], signal?: AbortSignal): Promise<CommitResponse> {
    const { topic, partition } = await this.findCoordinator(signal);
    const body = { group: this.options.group, memberId: this.memberId, memberEpoch: this.epoch, offsets };
    return readCommitResponse(await this.cluster.callPartition<unknown>({ topic, partition, method: groupMethods.offsetCommit, body }, { signal, watchLeader: true }), 'offsetCommit response');
  }

  /**
   * Leaves the group: revokes everything (the consumer drains and commits),
   * then says so to the coordinator (a static member leaves temporarily, so
   * its partitions wait for its return). Idempotent.
   */
  async leave(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.wake?.();
    await this.loop?.catch(() => {});
    const held = [...this.owned.values()];
    if (held.length > 0) await this.hooks.revoked(held).catch(() => {});
    this.owned.clear();
    this.clearLeaseTimer();
    if (this.epoch === 0) return;
    const { topic, partition } = await this.findCoordinator();
    const body = { group: this.options.group, memberId: this.memberId, memberEpoch: this.epoch, temporary: this.options.instanceId !== null };
    await this.cluster
      .callPartition({ topic, partition, method: groupMethods.groupLeave, body }, { deadlineMs: systemClock.nowMs() + Math.min(this.options.sessionTimeoutMs, this.cluster.options.deliveryTimeoutMs), watchLeader: true })
      .catch(() => {
        // Already gone (expired, or a retry after it was applied); otherwise it expires by its session.
      });
  }

  /** Stops at once without a word to the coordinator (a fatal error, the client closing abruptly). */
  stop(): void {
    this.stopped = true;
    this.clearLeaseTimer();
    this.wake?.();
  }

  // ------------------------------------------------------------------ the heartbeat loop

  private async run(): Promise<void> {
    while (!this.stopped) {
      let nextMs: number = this.intervalMs;
      try {
        const memberId = this.memberId;
        const response = await this.heartbeat();
        if (this.stopped) return;
        // Lost while the heartbeat was out (the lease ended): its answer is about a member we no longer are.
        if (memberId === this.memberId) nextMs = this.answered(response);
        else nextMs = 0;
      } catch (error) {
        if (this.stopped) return;
        if (!this.failure(error)) return;
        nextMs = Math.min(this.intervalMs, groupLimits.pendingHeartbeatMs * 5);
      }
      await this.sleep(nextMs);
    }
  }

  private async heartbeat(): Promise<HeartbeatResponse> {
    const { topic, partition } = await this.findCoordinator();
    // The lease is timed on the monotonic clock: a wall-clock step must not stretch it (two owners) or cut it.
    const sentAtMs = systemClock.nowMs();
    const joining = this.epoch === 0;
    const body = {
      group: this.options.group,
      memberId: this.memberId,
      memberEpoch: this.epoch,
      owned: [...this.owned.values()].map((o) => [o.topic, o.partition]),
      ...(joining ? {} : { progress: this.hooks.progress() }),
      ...(joining
        ? { topics: this.options.topics, sessionTimeoutMs: this.options.sessionTimeoutMs, rebalanceTimeoutMs: this.options.rebalanceTimeoutMs, clientId: this.cluster.options.clientId, ...(this.options.instanceId === null ? {} : { instanceId: this.options.instanceId }) }
        : {}),
    };
    // Retried through leader changes for as long as the lease could last; a heartbeat never waits on the application.
    // A heartbeat says the whole state of the member (its id, epoch and what it owns): repeated after a move, it means the same.
    const deadlineMs = sentAtMs + Math.max(this.leaseEndMs - sentAtMs, this.options.sessionTimeoutMs / 2);
    const response = readHeartbeatResponse(await this.cluster.callPartition<unknown>({ topic, partition, method: groupMethods.groupHeartbeat, body }, { deadlineMs, watchLeader: true }));
    if (body.memberId !== this.memberId) return response;
    this.leaseEndMs = sentAtMs + this.options.sessionTimeoutMs - this.marginMs;
    this.armLeaseTimer();
    if (joining) this.hooks.joined(response.memberId, response.memberEpoch);
    return response;
  }

  /** Takes an answer: starts what is newly given, revokes what is no longer listed; returns when to heartbeat next. */
  private answered(response: HeartbeatResponse): number {
    this.epoch = response.memberEpoch;
    this.intervalMs = Math.max(groupLimits.pendingHeartbeatMs, response.heartbeatIntervalMs);
    const listed = new Map(response.assignment.map((a) => [`${a.topic}/${a.partition}`, a]));
    const given: OwnedPartition[] = [];
    for (const [key, a] of listed) {
      if (this.owned.has(key)) continue;
      const owned = ownedOf(a);
      this.owned.set(key, { ...owned, revoking: false });
      given.push(owned);
    }
    const taken: OwnedPartition[] = [];
    for (const [key, o] of this.owned) {
      if (listed.has(key) || o.revoking) continue;
      o.revoking = true;
      taken.push(o);
    }
    if (given.length > 0) void this.hooks.assigned(given).catch(() => {});
    if (taken.length > 0) void this.release(taken);
    return response.pending > 0 ? groupLimits.pendingHeartbeatMs : this.intervalMs;
  }

  private async release(taken: OwnedPartition[]): Promise<void> {
    await this.hooks.revoked(taken).catch(() => {});
    for (const o of taken) {
      const key = `${o.topic}/${o.partition}`;
      if (this.owned.get(key)?.revoking === true) this.owned.delete(key);
    }
    // The coordinator learns of the release at the next heartbeat: now.
    this.wake?.();
  }

  /** Handles a failed heartbeat; returns whether to go on. */
  private failure(error: unknown): boolean {
    if (isSkeinError(error) && rejoinCodes.has(error.code)) {
      this.loseAll(`${error.code}: ${error.message}`);
      return true;
    }
    if (isSkeinError(error) && fatalCodes.has(error.code)) {
      this.stopped = true;
      this.loseAll(`${error.code}: ${error.message}`);
      this.hooks.failed(error);
      return false;
    }
    // Unreachable coordinator and the like: keep trying; the lease timer says when to stop consuming.
    if (isSkeinError(error, 'UNKNOWN_PARTITION')) this.coordinator = null;
    return true;
  }

  /** Drops every partition at once (no commit: it would be refused) and starts afresh under a new member id. */
  private loseAll(reason: string): void {
    const held = [...this.owned.values()];
    this.owned.clear();
    this.memberId = newMemberId();
    this.epoch = 0;
    this.leaseEndMs = 0;
    this.clearLeaseTimer();
    this.hooks.lost(held, reason);
  }

  private armLeaseTimer(): void {
    this.clearLeaseTimer();
    const untilEndMs = Math.max(0, this.leaseEndMs - systemClock.nowMs());
    this.cancelLeaseTimer = systemClock.after(
      untilEndMs,
      () => {
        this.cancelLeaseTimer = null;
        if (this.stopped || systemClock.nowMs() < this.leaseEndMs) return;
        this.loseAll(`no heartbeat answered for ${this.options.sessionTimeoutMs} ms: the lease ended`);
        this.wake?.();
      },
      { keepAlive: false },
    );
  }

  private clearLeaseTimer(): void {
    this.cancelLeaseTimer?.();
    this.cancelLeaseTimer = null;
  }

  private async findCoordinator(signal?: AbortSignal): Promise<FindCoordinatorResponse> {
    if (this.coordinator !== null) return this.coordinator;
    const response = readFindCoordinatorResponse(await this.cluster.callAny<unknown>(groupMethods.findCoordinator, { group: this.options.group }, { signal }));
    this.coordinator = response;
    return response;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const cancel = systemClock.after(ms, done);
      function done(): void {
        cancel();
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }
}

function newMemberId(): string {
  return randomBytes(16).toString('base64url');
}

function ownedOf(a: AssignedPartition): OwnedPartition {
  return { topic: a.topic, topicId: a.topicId, partition: a.partition, committed: a.committed };
}
