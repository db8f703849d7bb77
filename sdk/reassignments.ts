import { sleep } from '../transport/abort.js';
import { OptionReader } from './check.js';
import { SkeinError } from '../transport/errors.js';
import { brokerLimits, clusterLimits } from '../transport/limits.js';
import { topicNameProblem } from '../transport/protocol/messages.js';
import {
  reassignmentMethods,
  type FinishedMove,
  type ListReassignmentsRequest,
  type ListReassignmentsResponse,
  type MoveStatus,
  type PartitionRef,
  type ReassignmentResult,
  type ReassignmentResults,
  type RebalanceResponse,
  type AlterTopicRequest,
  readAlterTopic,
  readVoterChange,
} from '../transport/protocol/reassignment.js';
import type { TopicMetadata } from '../transport/protocol/messages.js';
import type { Cluster } from './cluster.js';

/**
 * Moving partitions between brokers, for Admin: requests go to any broker,
 * which forwards them to the controller; each answers once the change is
 * recorded, never waiting for the move (watchMoves does).
 */
export interface PartitionMove extends PartitionRef {
  /** The replicas wanted; the first is the new preferred leader. */
  replicas: number[];
}

type Signal = { signal?: AbortSignal };

export async function reassignPartitions(cluster: Cluster, moves: readonly PartitionMove[], options: Signal = {}): Promise<ReassignmentResult[]> {
  checkList(moves, 'reassignPartitions');
  for (const move of moves) {
    checkRef(move, 'reassignPartitions');
    const { replicas } = move;
    if (!Array.isArray(replicas) || replicas.length === 0 || replicas.length > brokerLimits.replicationFactorMax) {
      throw new SkeinError('INVALID_REPLICA_ASSIGNMENT', { message: `reassignPartitions: replicas names 1 to ${brokerLimits.replicationFactorMax} brokers`, details: { reason: 'size' } });
    }
    if (!replicas.every((id) => Number.isSafeInteger(id) && id >= 1 && id <= brokerLimits.brokerIdMax)) {
      throw new SkeinError('INVALID_REPLICA_ASSIGNMENT', { message: `reassignPartitions: broker ids are integers from 1 to ${brokerLimits.brokerIdMax}`, details: { reason: 'brokerId' } });
    }
    if (new Set(replicas).size !== replicas.length) throw new SkeinError('INVALID_REPLICA_ASSIGNMENT', { message: `reassignPartitions: [${replicas.join(',')}] names a broker twice`, details: { reason: 'duplicate' } });
  }
  const body = { moves: moves.map((m) => ({ topic: m.topic, partition: m.partition, replicas: [...m.replicas] })) };
  return (await cluster.callAny<ReassignmentResults>(reassignmentMethods.reassignPartitions, body, { signal: options.signal })).results;
}

export async function cancelReassignments(cluster: Cluster, partitions: readonly PartitionRef[], options: Signal = {}): Promise<ReassignmentResult[]> {
  checkList(partitions, 'cancelReassignments');
  for (const p of partitions) checkRef(p, 'cancelReassignments');
  const body = { partitions: partitions.map((p) => ({ topic: p.topic, partition: p.partition })) };
  return (await cluster.callAny<ReassignmentResults>(reassignmentMethods.cancelReassignments, body, { signal: options.signal })).results;
}

export function listReassignments(cluster: Cluster, request: ListReassignmentsRequest = {}, options: Signal = {}): Promise<ListReassignmentsResponse> {
  return cluster.callAny<ListReassignmentsResponse>(reassignmentMethods.listReassignments, request, { signal: options.signal });
}

/**
 * Follows moves until every one has finished: yields the moves still going
 * (with their progress) about once every `everyMs`, and returns how each
 * ended. Stopping to watch (the signal) does not stop the moves.
 */
export async function* watchMoves(cluster: Cluster, moveIds: readonly number[], options: Signal & { everyMs?: number } = {}): AsyncGenerator<MoveStatus[], FinishedMove[]> {
  const pending = new Set(moveIds);
  const finished = new Map<number, FinishedMove>();
  const r = new OptionReader(options, 'watchMoves', 'INVALID_ARGUMENT', ['signal', 'everyMs']);
  const everyMs = r.int('everyMs', { min: clusterLimits.moveWatchEveryMsMin, max: clusterLimits.moveWatchEveryMsMax }, clusterLimits.moveProgressEveryMs);
  const signal = r.signal('signal');
  for (;;) {
    const listed = await listReassignments(cluster, { moveIds: [...pending] }, { signal });
    for (const f of listed.finished) {
      if (!pending.has(f.moveId)) continue;
      finished.set(f.moveId, f);
      pending.delete(f.moveId);
    }
    const going = new Set(listed.moves.map((m) => m.moveId));
    // Neither going nor finished: finished so long ago the metadata forgot it (moveOutcomesKeptMax).
    for (const id of [...pending]) if (!going.has(id)) pending.delete(id);
    if (pending.size === 0) return moveIds.flatMap((id) => (finished.has(id) ? [finished.get(id)!] : []));
    yield listed.moves;
    // One listener at a time (sleep removes its own): a long watch must not pile them on the caller's signal.
    await sleep(everyMs, signal);
  }
}

/** Starts moving every replica off a broker; it is gone once none is left (watch describeCluster). */
export function decommissionBroker(cluster: Cluster, brokerId: number, options: Signal = {}): Promise<{ replicas: number }> {
  checkBrokerId(brokerId, 'decommissionBroker');
  return cluster.callAny(reassignmentMethods.decommissionBroker, { brokerId }, { signal: options.signal });
}

export function recommissionBroker(cluster: Cluster, brokerId: number, options: Signal = {}): Promise<{ cancelled: number }> {
  checkBrokerId(brokerId, 'recommissionBroker');
  return cluster.callAny(reassignmentMethods.recommissionBroker, { brokerId }, { signal: options.signal });
}

export function rebalance(cluster: Cluster, options: Signal & { dryRun?: boolean } = {}): Promise<RebalanceResponse> {
  return cluster.callAny(reassignmentMethods.rebalance, { dryRun: options.dryRun === true }, { signal: options.signal });
}

/** More partitions, or another replication factor (reached by moves: their ids come back). */
export async function alterTopic(cluster: Cluster, request: AlterTopicRequest, options: Signal = {}): Promise<{ topic: TopicMetadata; moveIds: number[] }> {
  const checked = readAlterTopic(request);
  const response = await cluster.callAny<{ topic: TopicMetadata; moveIds: number[] }>(reassignmentMethods.alterTopic, checked, { signal: options.signal });
  cluster.metadata.invalidate(checked.name);
  return response;
}

export function alterControllerVoters(cluster: Cluster, change: { add: number } | { remove: number }, options: Signal = {}): Promise<{ voters: number[]; learners: number[] }> {
  return cluster.callAny(reassignmentMethods.alterControllerVoters, readVoterChange(change), { signal: options.signal });
}

function checkBrokerId(id: unknown, where: string): void {
  if (!Number.isSafeInteger(id) || (id as number) < 1 || (id as number) > brokerLimits.brokerIdMax) throw new SkeinError('INVALID_ARGUMENT', { message: `${where}: a broker id is an integer from 1 to ${brokerLimits.brokerIdMax}` });
}

function checkList(list: unknown, where: string): void {
  if (!Array.isArray(list) || list.length === 0 || list.length > clusterLimits.movesPendingMax) {
    throw new SkeinError('INVALID_ARGUMENT', { message: `${where}: expected a list of 1 to ${clusterLimits.movesPendingMax} partitions` });
  }
}

function checkRef(ref: PartitionRef, where: string): void {
  const problem = topicNameProblem(ref?.topic);
  if (problem !== null) throw new SkeinError('INVALID_TOPIC', { message: `${where}: ${problem}` });
  if (!Number.isSafeInteger(ref.partition) || ref.partition < 0 || ref.partition >= brokerLimits.partitionsPerTopicMax) {
    throw new SkeinError('UNKNOWN_PARTITION', { message: `${where}: partition must be an integer from 0 to ${brokerLimits.partitionsPerTopicMax - 1}, got ${String(ref.partition)}` });
  }
}
