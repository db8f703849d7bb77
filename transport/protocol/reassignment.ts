import { SkeinError } from '../errors.js';
import { brokerLimits, clusterLimits } from '../limits.js';
import { readTopicName } from './messages.js';
import { BodyReader, malformed } from './validate.js';

/**
 * Moving partitions between brokers, on the wire: client requests (any
 * broker takes them and forwards them to the controller) and what they
 * answer. A move's life is in the metadata (broker/cluster/core/move-record.ts);
 * these shapes are what clients see of it.
 */
export const reassignmentMethods = {
  reassignPartitions: 'reassignPartitions',
  cancelReassignments: 'cancelReassignments',
  listReassignments: 'listReassignments',
  decommissionBroker: 'decommissionBroker',
  recommissionBroker: 'recommissionBroker',
  rebalance: 'rebalance',
  alterTopic: 'alterTopic',
  alterControllerVoters: 'alterControllerVoters',
} as const;

/** add-voter / remove-voter: exactly one broker id. */
export function readVoterChange(body: unknown): { add: number } | { remove: number } {
  const r = new BodyReader(body, 'alterControllerVoters');
  const add = r.int('add', { min: 1, max: brokerLimits.brokerIdMax, optional: true });
  const remove = r.int('remove', { min: 1, max: brokerLimits.brokerIdMax, optional: true });
  if ((add === undefined) === (remove === undefined)) throw malformed('alterControllerVoters adds or removes exactly one broker');
  return add !== undefined ? { add } : { remove: remove! };
}

/** Exactly one of: more partitions, or another replication factor. */
export interface AlterTopicRequest {
  name: string;
  partitions?: number;
  replicationFactor?: number;
}

export function readAlterTopic(body: unknown): AlterTopicRequest {
  const r = new BodyReader(body, 'alterTopic');
  const name = readTopicName(r.raw('name'), 'alterTopic.name', 'INVALID_TOPIC');
  const partitions = r.has('partitions') ? intOr(r, 'partitions', brokerLimits.partitionsPerTopicMax, 'INVALID_TOPIC') : undefined;
  const replicationFactor = r.has('replicationFactor') ? intOr(r, 'replicationFactor', brokerLimits.replicationFactorMax, 'INVALID_REPLICATION_FACTOR') : undefined;
  if ((partitions === undefined) === (replicationFactor === undefined)) throw malformed('alterTopic changes exactly one of partitions and replicationFactor');
  return { name, ...(partitions !== undefined ? { partitions } : {}), ...(replicationFactor !== undefined ? { replicationFactor } : {}) };
}

function intOr(r: BodyReader, key: string, max: number, code: 'INVALID_TOPIC' | 'INVALID_REPLICATION_FACTOR'): number {
  const value = r.raw(key);
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) throw new SkeinError(code, { message: `alterTopic.${key} must be an integer from 1 to ${max}, got ${String(value)}` });
  return value;
}

/** decommissionBroker / recommissionBroker: `{ brokerId }`; they answer `{ replicas }` (to move off) and `{ cancelled }` (moves). */
export function readBrokerId(body: unknown, where: string): number {
  return new BodyReader(body, where).int('brokerId', { min: 1, max: brokerLimits.brokerIdMax });
}

export interface RebalanceResponse {
  moves: Array<{ topic: string; partition: number; replicas: number[]; target: number[] }>;
  replicaMoves: number;
  leaderChanges: number;
  /** The moves started (none for a dry run; a reorder starts none, it is applied at once). */
  moveIds: number[];
}

export interface PartitionRef {
  topic: string;
  partition: number;
}

export interface ReassignPartitionsRequest {
  moves: Array<PartitionRef & { replicas: number[] }>;
}

/** Per partition, as Kafka's AlterPartitionReassignments: a move id, a reorder (applied at once), or why not. */
export interface ReassignmentResult extends PartitionRef {
  moveId?: number;
  reordered?: boolean;
  /** cancelReassignments: cancelled at once (it was queued), or cancelling (its leader rolls it back). */
  outcome?: 'cancelled' | 'cancelling';
  error?: { code: string; message: string; details?: Record<string, unknown> };
}

export interface ReassignmentResults {
  results: ReassignmentResult[];
}

export interface CancelReassignmentsRequest {
  partitions: PartitionRef[];
}

export interface ListReassignmentsRequest {
  topics?: string[];
  moveIds?: number[];
}

/** A new replica's catch-up, from the partition leader's last report. */
export interface ReplicaCatchUp {
  broker: number;
  entriesBehind: number;
  offsetsBehind: number;
  /** An estimate: entries behind times the log's mean entry size. */
  bytesBehind: number;
  caughtUp: boolean;
  heardAgoMs: number | null;
}

export interface MoveStatus extends PartitionRef {
  moveId: number;
  original: number[];
  target: number[];
  phase: 'queued' | 'adding' | 'joint';
  reason: string;
  cancelReason: string | null;
  acceptedAtMs: number;
  startedAtMs: number | null;
  /** From the partition leader's last progress report ('unknown' until one came). */
  stage: string;
  detail: string;
  progress: ReplicaCatchUp[];
}

export interface FinishedMove extends PartitionRef {
  moveId: number;
  outcome: 'done' | 'cancelled' | 'dropped';
  original: number[];
  target: number[];
  cancelReason: string | null;
  finishedAtMs: number;
}

export interface ListReassignmentsResponse {
  moves: MoveStatus[];
  finished: FinishedMove[];
}

export function readReassignPartitions(body: unknown): ReassignPartitionsRequest {
  const r = new BodyReader(body, 'reassignPartitions');
  const moves = r.list('moves', { lengthMax: clusterLimits.movesPendingMax }, (value, where) => {
    const m = new BodyReader(value, where);
    // The replica list itself is checked by the controller, which says why it cannot be used.
    const replicas = m.list('replicas', { lengthMax: brokerLimits.replicationFactorMax + 1 }, (id, at) => {
      if (typeof id !== 'number' || !Number.isSafeInteger(id)) throw malformed(`${at} must be a broker id`);
      return id;
    })!;
    return { ...readRef(m, where), replicas };
  })!;
  return { moves };
}

export function readCancelReassignments(body: unknown): CancelReassignmentsRequest {
  const r = new BodyReader(body, 'cancelReassignments');
  return { partitions: r.list('partitions', { lengthMax: clusterLimits.movesPendingMax }, (value, where) => readRef(new BodyReader(value, where), where))! };
}

export function readListReassignments(body: unknown): ListReassignmentsRequest {
  const r = new BodyReader(body ?? {}, 'listReassignments');
  const topics = r.list('topics', { lengthMax: brokerLimits.topicsMax, optional: true }, (v, where) => readTopicName(v, where));
  const moveIds = r.list('moveIds', { lengthMax: clusterLimits.movesPendingMax, optional: true }, (v, where) => new BodyReader({ v }, where).int('v', { min: 1, max: Number.MAX_SAFE_INTEGER }));
  return { ...(topics !== undefined ? { topics } : {}), ...(moveIds !== undefined ? { moveIds } : {}) };
}

function readRef(r: BodyReader, where: string): PartitionRef {
  return { topic: readTopicName(r.raw('topic'), `${where}.topic`, 'INVALID_TOPIC'), partition: r.int('partition', { min: 0, max: brokerLimits.partitionsPerTopicMax - 1 }) };
}
