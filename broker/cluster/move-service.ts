import { systemClock } from '../../transport/clock.js';
import { SkeinError } from '../../transport/errors.js';
import { brokerLimits, clusterLimits } from '../../transport/limits.js';
import { isInternalTopic } from '../../transport/protocol/groups.js';
import type { ListReassignmentsRequest, ListReassignmentsResponse, MoveStatus, PartitionRef, ReassignmentResult, ReplicaCatchUp } from '../../transport/protocol/reassignment.js';
import { readAlterTopic, readVoterChange, readCancelReassignments, readListReassignments, readReassignPartitions } from '../../transport/protocol/reassignment.js';
import { BodyReader } from '../../transport/protocol/validate.js';
import type { Controller } from './controller.js';
import { assignReplicas } from './assignment.js';
import { planDecommission, planRebalance, planReplicationFactor } from './core/balance.js';
import { voterChange } from './core/membership.js';
import { checkMoveTarget, readMoveReport, type MoveReason, type MoveReport } from './core/move-record.js';
import { balanceInput } from './evacuation.js';
import { toMetadata, type CommandResult, type MetadataCommand } from './metadata-state.js';

/**
 * The controller's side of moving partitions: it checks a reassignment
 * against the live brokers and records it (the partition leaders carry it
 * out, see mover.ts), records cancels, believes leaders' reports, and keeps
 * their latest progress in memory (soft: lost with the controller, back
 * within a report interval) for listReassignments.
 */
export type MoveOperation =
  | { op: 'reassign'; moves: Array<PartitionRef & { replicas: number[] }>; reason: MoveReason }
  | { op: 'cancelMoves'; partitions: PartitionRef[] }
  | { op: 'listMoves'; request: ListReassignmentsRequest }
  | { op: 'moveReport'; topicId: number; partition: number; report: MoveReport }
  | { op: 'moveProgress'; reports: MoveProgressReport[] }
  | { op: 'decommission' | 'recommission'; brokerId: number }
  | { op: 'rebalance'; dryRun: boolean }
  | { op: 'alterTopic'; name: string; partitions?: number; replicationFactor?: number }
  | { op: 'voters'; add?: number; remove?: number }
  /** The controller's view of which brokers are alive (describeCluster). */
  | { op: 'liveness' };

export const moveOperationNames: ReadonlySet<string> = new Set(['reassign', 'cancelMoves', 'listMoves', 'moveReport', 'moveProgress', 'decommission', 'recommission', 'rebalance', 'alterTopic', 'voters', 'liveness']);

/** What a partition leader says of one move it carries out (soft, every clusterLimits.moveProgressEveryMs). */
export interface MoveProgressReport {
  moveId: number;
  stage: string;
  detail: string;
  replicas: ReplicaCatchUp[];
}

export interface MoveServiceOptions {
  controller: Controller;
  aliveBrokers: () => Set<number>;
}

export class MoveService {
  private readonly progress = new Map<number, MoveProgressReport & { atMs: number }>();

  constructor(private readonly options: MoveServiceOptions) {}

  /** A proven peer may report only about a move it takes part in. */
  checkReporter(operation: MoveOperation, from: number): void {
    if (operation.op !== 'moveReport') return;
    const move = this.options.controller.state.topicById(operation.topicId)?.partitions[operation.partition]?.move;
    if (move !== undefined && !move.original.includes(from) && !move.target.includes(from)) {
      throw new SkeinError('NOT_AUTHORIZED', { message: `broker ${from} takes no part in move ${move.moveId}` });
    }
  }

  async execute(operation: MoveOperation, signal: AbortSignal): Promise<unknown> {
    switch (operation.op) {
      case 'reassign':
        return { results: await this.eachPartition(operation.moves, signal, (ref, topicId) => this.reassignCommand(ref, topicId, ref.replicas, operation.reason)) };
      case 'cancelMoves':
        return { results: await this.eachPartition(operation.partitions, signal, (ref, topicId) => ({ type: 'cancelMove', topicId, partition: ref.partition, reason: 'operator', atMs: systemClock.epochMs() })) };
      case 'listMoves':
        return this.list(operation.request);
      case 'moveReport': {
        const result = await this.options.controller.propose({ type: 'moveReport', topicId: operation.topicId, partition: operation.partition, report: operation.report, atMs: systemClock.epochMs() }, { signal });
        if (!result.ok) throw new SkeinError(result.error.code, { message: result.error.message });
        return {};
      }
      case 'moveProgress':
        for (const report of operation.reports) this.progress.set(report.moveId, { ...report, atMs: systemClock.epochMs() });
        return {};
      case 'decommission':
        return this.decommission(operation.brokerId, signal);
      case 'recommission':
        return this.recommission(operation.brokerId, signal);
      case 'rebalance':
        return this.rebalance(operation.dryRun, signal);
      case 'alterTopic':
        return this.alterTopic(operation, signal);
      case 'voters':
        return this.alterVoters(operation, signal);
      case 'liveness':
        return { alive: [...this.options.aliveBrokers()].sort((a, b) => a - b) };
    }
  }

  /** add-voter / remove-voter: one joint configuration of the metadata group, answered once committed. */
  private async alterVoters(request: { add?: number; remove?: number }, signal: AbortSignal): Promise<unknown> {
    const { controller } = this.options;
    const state = controller.state;
    const brokers = new Map(state.brokerList().map((b) => [b.id, state.lifecycle(b.id)?.state ?? 'active']));
    const decided = voterChange(request, brokers, controller.groupView());
    if ('error' in decided) throw new SkeinError(decided.error.code, { message: decided.error.message });
    const self = controller.raft.status().id;
    if (request.remove === self) {
      // The controller leaving the voters hands its leadership over first; the client's retry reaches the next one.
      controller.handOver();
      throw new SkeinError('LEADER_NOT_AVAILABLE', { message: `broker ${self} is handing the controller over before it leaves the voters; retry` });
    }
    await controller.raft.changeMembership(decided.changes, { signal });
    const { config } = controller.raft.status();
    return { voters: [...config.voters], learners: [...config.learners] };
  }

  /**
   * More partitions (placed as createTopic places them, by load), or another replication factor (each
   * partition moved to it by a reassignment: new replicas on the least loaded brokers, dropped ones from the fullest).
   */
  private async alterTopic(operation: Extract<MoveOperation, { op: 'alterTopic' }>, signal: AbortSignal): Promise<unknown> {
    const state = this.options.controller.state;
    const topic = state.topic(operation.name);
    if (topic === undefined) throw new SkeinError('UNKNOWN_TOPIC', { message: `topic ${operation.name} does not exist` });
    const alive = this.options.aliveBrokers();
    if (operation.partitions !== undefined) {
      if (isInternalTopic(topic.name)) {
        // Groups live at their name's hash mod the partition count: another count would strand every group's state and commits.
        throw new SkeinError('NOT_AUTHORIZED', { message: `topic ${topic.name} is internal to skein: its partitions are fixed (its replication factor can change)` });
      }
      if (operation.partitions <= topic.partitions.length) {
        throw new SkeinError('INVALID_TOPIC', { message: `topic ${topic.name} has ${topic.partitions.length} partitions; partitions only grow` });
      }
      const brokers = state.activeBrokerIds().filter((id) => alive.has(id));
      const assignment = assignReplicas({ partitions: operation.partitions - topic.partitions.length, replicationFactor: topic.replicationFactor, brokers, load: state.load() });
      const result = await this.propose({ type: 'addPartitions', topicId: topic.topicId, assignment }, signal);
      return { topic: result.topic, moveIds: [] };
    }
    const factor = operation.replicationFactor!;
    if (topic.partitions.some((p) => p.move !== undefined)) throw new SkeinError('REASSIGNMENT_IN_PROGRESS', { message: `partitions of topic ${topic.name} are moving; wait for them or cancel them` });
    const plan = planReplicationFactor(balanceInput(state, alive, clusterLimits.movesPendingMax - state.moves().length), topic.name, factor);
    await this.propose({ type: 'setReplicationFactor', topicId: topic.topicId, replicationFactor: factor }, signal);
    const moveIds: number[] = [];
    for (const m of plan.moves) {
      const result = await this.propose({ type: 'reassignPartition', topicId: topic.topicId, partition: m.partition, target: [...m.target], reason: 'replication', atMs: systemClock.epochMs() }, signal);
      if (result.moveId !== undefined) moveIds.push(result.moveId);
    }
    return { topic: toMetadata(state.topic(topic.name) ?? topic), moveIds };
  }

  private async propose(command: MetadataCommand, signal: AbortSignal): Promise<CommandResult & { ok: true }> {
    const result = await this.options.controller.propose(command, { signal });
    if (!result.ok) throw new SkeinError(result.error.code, { message: result.error.message });
    return result;
  }

  /**
   * Refused up front when the other active brokers cannot take its replicas (INVALID_REPLICATION_FACTOR),
   * and NOT_ENOUGH_REPLICAS (retried) when they could but not all of them answer right now (one
   * restarting, say), as createTopic does; the evacuation itself runs on the controller (evacuation.ts).
   */
  private async decommission(brokerId: number, signal: AbortSignal): Promise<unknown> {
    const state = this.options.controller.state;
    const lifecycle = state.lifecycle(brokerId);
    if (lifecycle === undefined) throw new SkeinError('UNKNOWN_BROKER', { message: `the cluster has no broker ${brokerId}` });
    if (lifecycle.state === 'active') {
      // As if it were already leaving: planDecommission says which partition the rest cannot hold.
      const planWith = (alive: ReadonlySet<number>): void => {
        const input = balanceInput(state, alive, clusterLimits.movesPendingMax);
        planDecommission({ ...input, brokers: input.brokers.map((b) => (b.id === brokerId ? { ...b, state: 'decommissioning' as const } : b)) });
      };
      planWith(new Set(state.activeBrokerIds()));
      try {
        planWith(this.options.aliveBrokers());
      } catch (error) {
        throw new SkeinError('NOT_ENOUGH_REPLICAS', { message: `${(error as Error).message}; the active brokers could once all of them answer`, cause: error });
      }
    }
    await this.propose({ type: 'decommissionBroker', id: brokerId }, signal);
    const replicas = state.topicList().reduce((n, t) => n + t.partitions.filter((p) => p.replicas.includes(brokerId)).length, 0);
    return { replicas };
  }

  /** Back to active; the decommission's moves not yet past their joint configuration are cancelled (the others complete). */
  private async recommission(brokerId: number, signal: AbortSignal): Promise<unknown> {
    await this.propose({ type: 'recommissionBroker', id: brokerId }, signal);
    let cancelled = 0;
    for (const { topic, partition, move } of this.options.controller.state.moves()) {
      if (move.reason !== 'decommission' || !move.original.includes(brokerId) || move.target.includes(brokerId) || move.phase === 'joint') continue;
      const result = await this.options.controller.propose({ type: 'cancelMove', topicId: topic.topicId, partition: partition.partition, reason: `broker ${brokerId} recommissioned`, atMs: systemClock.epochMs() }, { signal });
      if (result.ok) cancelled++;
    }
    return { cancelled };
  }

  /** Spreads replicas and preferred leaders over the active, alive brokers with the fewest moves (core/balance.ts); a dry run only plans. */
  private async rebalance(dryRun: boolean, signal: AbortSignal): Promise<unknown> {
    const state = this.options.controller.state;
    const plan = planRebalance(balanceInput(state, this.options.aliveBrokers(), clusterLimits.movesPendingMax - state.moves().length));
    const moveIds: number[] = [];
    if (!dryRun) {
      for (const m of plan.moves) {
        const topic = state.topic(m.topic);
        if (topic === undefined) continue;
        const result = await this.options.controller.propose({ type: 'reassignPartition', topicId: topic.topicId, partition: m.partition, target: [...m.target], reason: 'rebalance', atMs: systemClock.epochMs() }, { signal });
        if (result.ok && result.moveId !== undefined) moveIds.push(result.moveId);
      }
    }
    return { moves: plan.moves, replicaMoves: plan.replicaMoves, leaderChanges: plan.leaderChanges, moveIds };
  }

  /** One command per partition, in order; each partition gets its own result (one refusal does not stop the rest). */
  private async eachPartition<R extends PartitionRef>(refs: readonly R[], signal: AbortSignal, command: (ref: R, topicId: number) => MetadataCommand | SkeinError): Promise<ReassignmentResult[]> {
    const results: ReassignmentResult[] = [];
    for (const ref of refs) {
      const where = { topic: ref.topic, partition: ref.partition };
      const topic = this.options.controller.state.topic(ref.topic);
      let made: MetadataCommand | SkeinError;
      if (topic === undefined) made = new SkeinError('UNKNOWN_TOPIC', { message: `topic ${ref.topic} does not exist` });
      else if (topic.partitions[ref.partition] === undefined) made = new SkeinError('UNKNOWN_PARTITION', { message: `topic ${ref.topic} has no partition ${ref.partition}` });
      else made = command(ref, topic.topicId);
      if (made instanceof SkeinError) {
        results.push({ ...where, error: { code: made.code, message: made.message, ...(made.details !== undefined ? { details: made.details } : {}) } });
        continue;
      }
      const result: CommandResult = await this.options.controller.propose(made, { signal });
      if (!result.ok) results.push({ ...where, error: result.error });
      else results.push({ ...where, ...(result.moveId !== undefined ? { moveId: result.moveId } : {}), ...(result.reordered ? { reordered: true } : {}), ...(result.outcome !== undefined ? { outcome: result.outcome } : {}) });
    }
    return results;
  }

  /** Checks the target against the live brokers too (applying the command cannot: liveness is not in the log). */
  private reassignCommand(ref: PartitionRef, topicId: number, replicas: number[], reason: MoveReason): MetadataCommand | SkeinError {
    const state = this.options.controller.state;
    const partition = state.topicById(topicId)!.partitions[ref.partition]!;
    const alive = this.options.aliveBrokers();
    const checked = checkMoveTarget({ current: partition.replicas, target: replicas, moving: partition.move ?? null, brokers: state.brokerViews((id) => alive.has(id)), checkAlive: true });
    if (checked.kind === 'refused') return checked.error;
    return { type: 'reassignPartition', topicId, partition: ref.partition, target: checked.target, reason, atMs: systemClock.epochMs() };
  }

  private list(request: ListReassignmentsRequest): ListReassignmentsResponse {
    const state = this.options.controller.state;
    const topics = request.topics === undefined ? null : new Set(request.topics);
    const ids = request.moveIds === undefined ? null : new Set(request.moveIds);
    const wanted = (topic: string, moveId: number): boolean => (topics === null || topics.has(topic)) && (ids === null || ids.has(moveId));
    const staleMs = 3 * clusterLimits.moveProgressEveryMs;
    const moves: MoveStatus[] = state
      .moves()
      .filter(({ topic, move }) => wanted(topic.name, move.moveId))
      .map(({ topic, partition, move }) => {
        const report = this.progress.get(move.moveId);
        const fresh = report !== undefined && systemClock.epochMs() - report.atMs <= staleMs ? report : undefined;
        return {
          topic: topic.name,
          partition: partition.partition,
          moveId: move.moveId,
          original: [...move.original],
          target: [...move.target],
          phase: move.phase,
          reason: move.reason,
          cancelReason: move.cancelReason,
          acceptedAtMs: move.acceptedAtMs,
          startedAtMs: move.startedAtMs,
          stage: fresh?.stage ?? (move.phase === 'queued' ? 'queued' : 'unknown'),
          detail: fresh?.detail ?? (move.phase === 'queued' ? 'waiting for a move slot' : 'no progress report from the partition leader yet'),
          progress: fresh?.replicas ?? [],
        };
      });
    const live = new Set(state.moves().map((m) => m.move.moveId));
    for (const id of this.progress.keys()) if (!live.has(id)) this.progress.delete(id);
    const finished = state.finishedMoves().filter((m) => wanted(m.topic, m.moveId)).slice(0, clusterLimits.moveOutcomesKeptMax);
    return { moves, finished: finished.map((m) => ({ ...m, original: [...m.original], target: [...m.target] })) };
  }
}

/** Reads a move operation forwarded by a peer (every field checked, as anything from another process). */
export function readMoveOperation(r: BodyReader, op: string): MoveOperation {
  switch (op) {
    case 'reassign':
      return { op, moves: readReassignPartitions({ moves: r.raw('moves') }).moves, reason: r.oneOf('reason', ['operator', 'rebalance', 'decommission', 'replication']) };
    case 'cancelMoves':
      return { op, partitions: readCancelReassignments({ partitions: r.raw('partitions') }).partitions };
    case 'listMoves':
      return { op, request: readListReassignments(r.raw('request')) };
    case 'moveReport':
      return {
        op,
        topicId: r.int('topicId', { min: 1, max: Number.MAX_SAFE_INTEGER }),
        partition: r.int('partition', { min: 0, max: brokerLimits.partitionsPerTopicMax - 1 }),
        report: readMoveReport(r.raw('report'), 'controller.report'),
      };
    case 'decommission':
    case 'recommission':
      return { op, brokerId: r.int('brokerId', { min: 1, max: brokerLimits.brokerIdMax }) };
    case 'rebalance':
      return { op, dryRun: r.bool('dryRun', false) };
    case 'liveness':
      return { op };
    case 'voters':
      return { op, ...readVoterChange({ add: r.raw('add'), remove: r.raw('remove') }) };
    case 'alterTopic':
      return { op, ...readAlterTopic({ name: r.raw('name'), partitions: r.raw('partitions'), replicationFactor: r.raw('replicationFactor') }) };
    default: {
      const reports = r.list('reports', { lengthMax: clusterLimits.movesInFlightMax }, (value, where) => {
        const p = new BodyReader(value, where);
        const replicas = p.list('replicas', { lengthMax: brokerLimits.replicationFactorMax }, (v, at) => {
          const c = new BodyReader(v, at);
          const n = (key: string): number => c.int(key, { min: 0, max: Number.MAX_SAFE_INTEGER });
          const heard = c.raw('heardAgoMs') === null ? null : n('heardAgoMs');
          return { broker: c.int('broker', { min: 1, max: brokerLimits.brokerIdMax }), entriesBehind: n('entriesBehind'), offsetsBehind: n('offsetsBehind'), bytesBehind: n('bytesBehind'), caughtUp: c.bool('caughtUp', false), heardAgoMs: heard };
        })!;
        return { moveId: p.int('moveId', { min: 1, max: Number.MAX_SAFE_INTEGER }), stage: p.string('stage', { bytesMax: 64 }), detail: p.string('detail', { bytesMax: brokerLimits.metadataStringBytesMax }), replicas };
      })!;
      return { op: 'moveProgress', reports };
    }
  }
}

