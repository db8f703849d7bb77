import { rmSync } from 'node:fs';
import { systemClock } from '../../transport/clock.js';
import type { Prng } from '../../transport/core/prng.js';
import { isSkeinError, SkeinError } from '../../transport/errors.js';
import { brokerLimits } from '../../transport/limits.js';
import { groupsTopic } from '../../transport/protocol/groups.js';
import { assignedTo, type Assignment } from '../cluster/assigned.js';
import type { Controller } from '../cluster/controller.js';
import type { MetadataState } from '../cluster/metadata-state.js';
import { ownCommandRetryPolicy, type OwnCommands } from '../cluster/own-commands.js';
import type { RaftMux } from '../raft/mux.js';
import type { CatchUpThrottle } from '../raft/throttle.js';
import type { RaftTiming } from '../replica/log-replica.js';
import { storageFailure, type StoppedReplicas } from '../replica/stopped-replicas.js';
import { partitionDir, readDescriptors, writeDescriptor, type PartitionDescriptor } from './descriptor.js';
import type { LeaderBalancer } from './leader-balance.js';
import { Partition, partitionGroup, type PartitionMachine } from './partition.js';

/** The state machines fed by the partitions of skein's groups topic (broker/groups: the coordinators). */
export interface GroupMachines {
  machineFor(partition: number): PartitionMachine;
  leadershipChanged(replica: Partition, writable: boolean): void;
  closed(replica: Partition): void;
}

export interface PartitionHostOptions {
  brokerId: number;
  dataDir: string;
  timing: RaftTiming;
  /** Whether preferred replicas campaign at once and take leadership back (--leader-balance). */
  leaderBalance: boolean;
  controller: Controller;
  mux: RaftMux;
  prng: Prng;
  /** What every partition this broker leads may send to new replicas catching up (--move-rate). */
  throttle: CatchUpThrottle;
  groups: GroupMachines;
  balancer: LeaderBalancer<Partition>;
  commands: OwnCommands;
  stoppedReplicas: StoppedReplicas;
  counters: { partitionsOpened: number; partitionsClosed: number };
  fatal: (what: string, error: unknown) => void;
}

/**
 * The partition replicas this broker hosts, and the one place that opens and
 * closes them: the replicas found on disk at start, then exactly those the
 * metadata assigns here as it changes (reconcile), a replica its storage
 * stopped when the disk takes writes again, and all of them at shutdown.
 * Every opening and closing runs in one line (`exclusive`), so a pass never
 * races another. A leadership won here is reported to the controller.
 */
export class PartitionHost {
  private readonly byGroup = new Map<string, Partition>();
  private readonly byName = new Map<string, Map<number, Partition>>();
  private line: Promise<void> = Promise.resolve();
  private reconcileQueued = false;
  private closed = false;
  /** Decommissioned for good (depart): nothing is hosted here again. */
  private departed = false;

  constructor(private readonly options: PartitionHostOptions) {}

  /** Opens the replicas whose descriptors are in the data directory (a restart), then follows the metadata. */
  async start(): Promise<void> {
    for (const { dir, descriptor } of readDescriptors(this.options.dataDir)) await this.host(dir, descriptor);
    this.options.controller.onChange(() => this.scheduleReconcile());
  }

  /** This broker's replica of a partition, if it hosts one. */
  replica(topic: string, partition: number): Partition | undefined {
    return this.byName.get(topic)?.get(partition);
  }

  /** Every replica hosted now. */
  replicas(): IterableIterator<Partition> {
    return this.byGroup.values();
  }

  /** Runs `task` in line with every other opening and closing of replicas here; a failure is the caller's. */
  exclusive(task: () => Promise<void>): Promise<void> {
    const run = this.line.then(task);
    this.line = run.catch(() => {});
    return run;
  }

  /** Closes every replica (flushing it) and stops following the metadata; waits for a pass under way. */
  async close(): Promise<void> {
    this.closed = true;
    await this.line;
    await Promise.all([...this.byGroup].map(([group, p]) => this.unhost(group, p, { deleteData: false }).catch(() => {})));
  }

  /**
   * The cluster decommissioned this broker for good (broker/cluster/departure.ts): no partition names it
   * now or ever will (brokerGone is refused while one does, and a gone id takes nothing again), so every
   * replica still here is deleted without confirming with the metadata group, which no longer has this
   * broker, and the metadata is no longer followed.
   */
  async depart(): Promise<void> {
    this.departed = true;
    await this.exclusive(async () => {
      for (const [group, partition] of [...this.byGroup]) if (!this.closed) await this.unhost(group, partition, { deleteData: true });
    });
  }

  /** Reopens a replica that its storage stopped (unless its topic went meanwhile): recovery, then Raft catches it up. */
  private async rehost(group: string, dir: string, descriptor: PartitionDescriptor): Promise<void> {
    const current = this.byGroup.get(group);
    if (current !== undefined) await this.unhost(group, current, { deleteData: false });
    const { state } = this.options.controller;
    if (state.topicById(descriptor.topicId) === undefined && descriptor.topicId < state.topicIdsIssued) return;
    await this.host(dir, descriptor);
  }

  private async host(dir: string, descriptor: PartitionDescriptor): Promise<void> {
    const { options } = this;
    const group = partitionGroup(descriptor.topicId, descriptor.partition);
    const name = `${descriptor.topic}/${descriptor.partition}`;
    const partition = await Partition.open({
      topic: descriptor.topic,
      topicId: descriptor.topicId,
      partition: descriptor.partition,
      brokerId: options.brokerId,
      dir,
      voters: descriptor.bootstrap === false ? null : descriptor.replicas,
      preferredLeader: descriptor.replicas[0]!,
      config: descriptor.config,
      mux: options.mux,
      prng: options.prng.fork(),
      timing: options.timing,
      learnerBudget: options.throttle,
      ...(descriptor.topic === groupsTopic ? { machine: options.groups.machineFor(descriptor.partition) } : {}),
      onLeadership: (writable, p) => this.leadershipChanged(p, writable),
      onFatal: (error) => options.stoppedReplicas.stopped(group, name, error, () => this.rehost(group, dir, descriptor)),
    });
    options.counters.partitionsOpened++;
    this.byGroup.set(group, partition);
    let partitions = this.byName.get(descriptor.topic);
    if (partitions === undefined) this.byName.set(descriptor.topic, (partitions = new Map()));
    partitions.set(descriptor.partition, partition);
    if (options.leaderBalance && partition.preferredLeader === options.brokerId) {
      const { tickMs, electionTicks } = options.timing;
      for (const ticks of [brokerLimits.preferredCampaignTicks, 2 * brokerLimits.preferredCampaignTicks]) {
        if (ticks < electionTicks) systemClock.after(ticks * tickMs, () => options.balancer.campaignIfNew(partition), { keepAlive: false });
      }
    }
  }

  private async unhost(group: string, partition: Partition, options: { deleteData: boolean }): Promise<void> {
    this.byGroup.delete(group);
    this.options.stoppedReplicas.forget(group);
    this.options.balancer.leadershipChanged(partition, false, systemClock.nowMs());
    if (partition.topic === groupsTopic) this.options.groups.closed(partition);
    const partitions = this.byName.get(partition.topic);
    if (partitions?.get(partition.partition) === partition) partitions.delete(partition.partition);
    if (partitions?.size === 0) this.byName.delete(partition.topic);
    this.options.counters.partitionsClosed++;
    // Data about to be deleted is not worth a flush.
    await partition.close({ discard: options.deleteData });
    if (options.deleteData) rmSync(partitionDir(this.options.dataDir, partition), { recursive: true, force: true });
  }

  private leadershipChanged(partition: Partition, writable: boolean): void {
    if (partition.topic === groupsTopic) this.options.groups.leadershipChanged(partition, writable);
    this.options.balancer.leadershipChanged(partition, writable, systemClock.nowMs());
    if (writable) void this.reportLeadership(partition);
  }

  /** Tells the controller this broker now leads a partition, until it is told or leadership moves on. */
  private async reportLeadership(partition: Partition): Promise<void> {
    const { brokerId, controller, commands } = this.options;
    const term = partition.raft.status().term;
    const command = { type: 'partitionLeader', topicId: partition.topicId, partition: partition.partition, leader: brokerId, leaderEpoch: term } as const;
    await commands.retried(`reporting its leadership of ${partition.topic}/${partition.partition}`, ownCommandRetryPolicy, async () => {
      if (!partition.isLeader() || partition.raft.status().term !== term) return;
      const known = controller.state.topicById(partition.topicId)?.partitions[partition.partition];
      if (known !== undefined && known.leader === brokerId && known.leaderEpoch >= term) return;
      await commands.run(command);
    });
  }

  // ------------------------------------------------------------------ reconciling with the metadata

  private scheduleReconcile(): void {
    // Every applied metadata entry asks for a pass; one queued pass covers all that arrive before it runs.
    if (this.reconcileQueued || this.closed || this.departed) return;
    this.reconcileQueued = true;
    this.exclusive(() => {
      this.reconcileQueued = false;
      return this.reconcile();
    }).catch((error: unknown) => this.options.fatal('reconcile', error));
  }

  /**
   * Hosts exactly the partitions the metadata assigns to this broker, as it
   * stands now: deletions first (closing frees what opening takes), then
   * opens one at a time, each checked against the current metadata and
   * followed by a turn of the event loop (requests and the metadata group
   * run between them). A topic deleted meanwhile ends the pass: the pass
   * queued behind it starts over from the deletions.
   */
  private async reconcile(): Promise<void> {
    if (this.closed || this.departed) return;
    const { controller, brokerId, stoppedReplicas } = this.options;
    const state: MetadataState = controller.state;
    const deletions = state.topicsDeleted;
    await this.closeDeleted(state);
    const wanted = assignedTo(state, brokerId);
    await this.closeUnassigned(wanted);
    this.refreshHosted(wanted);
    for (const [group, want] of wanted) {
      if (this.closed || controller.state !== state || state.topicsDeleted !== deletions) return;
      // A replica its storage stopped is retried on its own schedule (StoppedReplicas).
      if (this.byGroup.has(group) || stoppedReplicas.has(group)) continue;
      await this.openPartition(group, want);
      await yieldTurn();
    }
  }

  /** Closes and deletes the replicas of topics the metadata no longer has. */
  private async closeDeleted(state: MetadataState): Promise<void> {
    for (const [group, partition] of [...this.byGroup]) {
      if (this.closed) return;
      // A topic id that the metadata no longer knows was deleted; one it never knew may still be on its way.
      if (state.topicById(partition.topicId) === undefined && partition.topicId < state.topicIdsIssued) {
        await this.unhost(group, partition, { deleteData: true });
        await yieldTurn();
      }
    }
  }

  /**
   * Deletes the replicas a finished move took off this broker (or a cancelled one had added). The
   * metadata is first confirmed by a linearizable read: a restarted broker's copy may have applied an
   * entry of the current term and still miss the move's end. The metadata stops naming a broker only
   * once its group no longer has it as a voter, so what is deleted is never needed.
   */
  private async closeUnassigned(wanted: Map<string, Assignment>): Promise<void> {
    const { controller, brokerId } = this.options;
    const unassigned = (state: MetadataState, want: Map<string, Assignment>): Array<[string, Partition]> =>
      [...this.byGroup].filter(([group, p]) => !want.has(group) && state.topicById(p.topicId) !== undefined);
    if (unassigned(controller.state, wanted).length === 0) return;
    try {
      await controller.raft.read({ signal: AbortSignal.timeout(brokerLimits.controllerCommandTimeoutMs) });
    } catch {
      // No controller to confirm with now: try again shortly.
      systemClock.after(brokerLimits.storageRetryMs, () => this.scheduleReconcile(), { keepAlive: false });
      return;
    }
    const state = controller.state;
    for (const [group, partition] of unassigned(state, assignedTo(state, brokerId))) {
      if (this.closed) return;
      process.stderr.write(`skein broker ${brokerId}: ${partition.topic}/${partition.partition} moved off this broker; its replica is deleted\n`);
      await this.unhost(group, partition, { deleteData: true });
    }
  }

  /** A finished move may change a hosted replica's preferred leader: leadership follows it, and a restart reads it from the descriptor. */
  private refreshHosted(wanted: Map<string, Assignment>): void {
    for (const [group, want] of wanted) {
      const partition = this.byGroup.get(group);
      if (partition === undefined || want.moving || partition.preferredLeader === want.replicas[0]) continue;
      partition.preferredLeader = want.replicas[0]!;
      try {
        writeDescriptor(partitionDir(this.options.dataDir, partition), descriptorOf(want));
      } catch {
        // The descriptor only names the preferred leader at the next start; the metadata corrects it then.
      }
    }
  }

  /** Opens a replica the metadata assigns here, for the first time. */
  private async openPartition(group: string, want: Assignment): Promise<void> {
    const descriptor = descriptorOf(want);
    const dir = partitionDir(this.options.dataDir, descriptor);
    // One partition that cannot open (a damaged directory, say) must not keep the others from being served.
    try {
      writeDescriptor(dir, descriptor);
      await this.host(dir, descriptor);
    } catch (error) {
      const replica = `${descriptor.topic}/${descriptor.partition}`;
      // A disk that cannot take the new replica's files now may later: retried with the stopped replicas.
      if (isSkeinError(error, 'STORAGE_FAILED')) this.options.stoppedReplicas.stopped(group, replica, storageFailure(error), () => this.openWanted(group, want));
      else this.options.fatal(`partition ${replica}`, error);
    }
  }

  /** Opens a wanted partition that its storage kept from opening (see openPartition); throws if it still cannot. */
  private async openWanted(group: string, want: Assignment): Promise<void> {
    // Still wanted? The topic may have gone while the disk was full.
    if (this.options.controller.state.topicById(want.topic.topicId) === undefined) return;
    await this.openPartition(group, want);
    const still = this.options.stoppedReplicas.forget(group);
    if (still !== undefined) throw new SkeinError('STORAGE_FAILED', { message: still.message });
  }
}

function descriptorOf(want: Assignment): PartitionDescriptor {
  return { topic: want.topic.name, topicId: want.topic.topicId, partition: want.partition, replicas: want.replicas, config: want.topic.config, bootstrap: want.bootstrap };
}

function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
