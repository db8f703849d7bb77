import { SkeinError } from '../errors.js';
import type { AssignedPartition, CommitResponse, DescribeGroupResponse, FindCoordinatorResponse, GroupPartition, HeartbeatResponse, ListGroupsResponse, MemberProgress } from './groups.js';
import { producerProofBytesMax, type BrokerInfo, type DescribeClusterResponse, type InitProducerResponse, type ListOffsetsResponse, type MetadataResponse, type ProduceResponse } from './messages.js';

/**
 * Readers for what brokers answer, beside the request readers of messages.ts:
 * an answer is the peer's data, checked for the fields the client relies on
 * before it trusts them. A broken answer is a PROTOCOL_VIOLATION that names
 * what is wrong, never a TypeError where the field is first used.
 */

function violation(where: string, what: string): SkeinError {
  return new SkeinError('PROTOCOL_VIOLATION', { message: `malformed ${where}: ${what}` });
}

function isMap(body: unknown): body is Record<string, unknown> {
  return typeof body === 'object' && body !== null;
}

function isOffset(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export function readProduceResponse(body: unknown): ProduceResponse {
  if (!isMap(body) || !isOffset(body.baseOffset)) throw violation('produce response', 'baseOffset must be a non-negative integer');
  return { baseOffset: body.baseOffset, duplicate: body.duplicate === true };
}

/** An issued producer id: its epoch is an int16 and its proof is bounded, as the broker makes them. */
export function readInitProducerResponse(body: unknown): InitProducerResponse {
  if (
    !isMap(body) ||
    typeof body.producerId !== 'number' || !Number.isSafeInteger(body.producerId) || body.producerId < 0 ||
    typeof body.producerEpoch !== 'number' || !Number.isInteger(body.producerEpoch) || body.producerEpoch < 0 || body.producerEpoch > 0x7fff ||
    !(body.proof instanceof Uint8Array) || body.proof.byteLength === 0 || body.proof.byteLength > producerProofBytesMax
  ) {
    throw violation('initProducer response', 'it needs a producerId, an int16 producerEpoch and a proof');
  }
  return { producerId: body.producerId, producerEpoch: body.producerEpoch, proof: body.proof };
}

export function readListOffsetsResponse(body: unknown): ListOffsetsResponse {
  if (!isMap(body) || !isOffset(body.offset)) throw violation('listOffsets response', 'offset must be a non-negative integer');
  return { offset: body.offset };
}

/** The record batches of a fetch response or a push (`where` names which); the other fields are not read. */
export function readBatches(body: unknown, where: 'fetch response' | 'push'): Uint8Array {
  if (!isMap(body) || !(body.batches instanceof Uint8Array)) throw violation(where, 'batches must be bytes');
  return body.batches;
}

export function readMetadataResponse(body: unknown): MetadataResponse {
  const where = 'metadata response';
  if (!isMap(body)) throw violation(where, 'not a map');
  const r = body as Partial<MetadataResponse>;
  if (!Array.isArray(r.brokers) || !Array.isArray(r.topics)) throw violation(where, 'brokers and topics must be lists');
  for (const b of r.brokers) if (!isBroker(b)) throw violation(where, 'a broker needs id, host and port');
  for (const t of r.topics) {
    if (typeof t?.name !== 'string' || typeof t.topicId !== 'number' || !Array.isArray(t.partitions)) throw violation(where, 'a topic needs name, topicId and partitions');
    for (const p of t.partitions) {
      if (typeof p?.partition !== 'number' || (p.leader !== null && typeof p.leader !== 'number') || typeof p.leaderEpoch !== 'number' || !Array.isArray(p.replicas)) {
        throw violation(where, `partition metadata of ${t.name} is malformed`);
      }
    }
  }
  const controllerId = typeof r.controllerId === 'number' ? r.controllerId : null;
  return { clusterId: String(r.clusterId ?? ''), controllerId, brokers: r.brokers, topics: r.topics, missing: Array.isArray(r.missing) ? r.missing : [] };
}

export function readDescribeClusterResponse(body: unknown): DescribeClusterResponse {
  if (!isMap(body) || !Array.isArray(body.brokers)) throw violation('describeCluster response', 'brokers must be a list');
  return body as unknown as DescribeClusterResponse;
}

function isBroker(value: unknown): value is BrokerInfo {
  return isMap(value) && typeof value.id === 'number' && typeof value.host === 'string' && typeof value.port === 'number';
}

// ---------------------------------------------------------------- consumer groups (groups.ts)

function isCount(value: unknown): value is number {
  return isOffset(value);
}

function isText(value: unknown): value is string {
  return typeof value === 'string';
}

type Check = (value: unknown) => boolean;

function orNull(check: Check): Check {
  return (value) => value === null || check(value);
}

/** A check of a map naming a topic's partition, with `fields` as their checks say. */
function partitionWith<T extends GroupPartition>(fields: Record<string, Check> = {}): (value: unknown) => value is T {
  return (value): value is T => isMap(value) && isText(value.topic) && isCount(value.partition) && Object.entries(fields).every(([key, check]) => check(value[key]));
}

function listOf<T>(value: unknown, check: (item: unknown) => item is T): T[] | null {
  return Array.isArray(value) && value.every(check) ? value : null;
}

const isPartitionOf = partitionWith();
const isProgress = partitionWith<MemberProgress>({ fetched: orNull(isOffset), finished: orNull(isOffset), idleMs: isCount, deadLettered: isCount, skipped: isCount });
const isAssigned = partitionWith<AssignedPartition>({ topicId: isCount, committed: orNull(isOffset) });
const isStored = partitionWith<CommitResponse['offsets'][number]>({ offset: isOffset });
const isCommitted = partitionWith<DescribeGroupResponse['offsets'][number]>({ offset: isOffset, committedAtMs: isCount });
const isHeld = partitionWith<DescribeGroupResponse['held'][number]>({ untilMs: isCount });
const isCounted = partitionWith<DescribeGroupResponse['counts'][number]>({ deadLettered: isCount, skipped: isCount });

/** Where a group lives: a partition of the internal groups topic. */
export function readFindCoordinatorResponse(body: unknown): FindCoordinatorResponse {
  if (!isMap(body) || !isText(body.topic) || !isCount(body.partition) || !isCount(body.partitions) || body.partition >= body.partitions) {
    throw violation('findCoordinator response', 'it needs topic, partition and partitions (partition < partitions)');
  }
  return { topic: body.topic, partition: body.partition, partitions: body.partitions };
}

export function readHeartbeatResponse(body: unknown): HeartbeatResponse {
  const where = 'groupHeartbeat response';
  if (!isMap(body) || !isText(body.memberId) || !isCount(body.memberEpoch) || !isCount(body.groupEpoch) || !isCount(body.heartbeatIntervalMs) || !isCount(body.pending)) {
    throw violation(where, 'memberId, memberEpoch, groupEpoch, heartbeatIntervalMs and pending are required');
  }
  const assignment = listOf(body.assignment, isAssigned);
  if (assignment === null) throw violation(where, 'an assigned partition needs topic, topicId, partition and committed');
  return { memberId: body.memberId, memberEpoch: body.memberEpoch, groupEpoch: body.groupEpoch, heartbeatIntervalMs: body.heartbeatIntervalMs, assignment, pending: body.pending };
}

/** What a commit or a reset stored: the offsets now committed. */
export function readCommitResponse(body: unknown, where: 'offsetCommit response' | 'resetOffsets response'): CommitResponse {
  const offsets = isMap(body) ? listOf(body.offsets, isStored) : null;
  if (offsets === null) throw violation(where, 'offsets must be a list of { topic, partition, offset }');
  return { offsets };
}

export function readListGroupsResponse(body: unknown): ListGroupsResponse {
  const groups = isMap(body) ? listOf(body.groups, (g): g is ListGroupsResponse['groups'][number] => isMap(g) && isText(g.group) && isText(g.state) && isCount(g.members)) : null;
  if (groups === null) throw violation('listGroups response', 'groups must be a list of { group, state, members }');
  return { groups };
}

type DescribedMember = DescribeGroupResponse['members'][number];

function isMember(m: unknown): m is DescribedMember {
  if (!isMap(m) || !isText(m.memberId) || !isText(m.clientId) || !isText(m.clientHost) || !isCount(m.epoch) || !isCount(m.joinedAtMs) || typeof m.away !== 'boolean') return false;
  if ((m.instanceId !== null && !isText(m.instanceId)) || (m.lastHeardAgoMs !== null && !isCount(m.lastHeardAgoMs))) return false;
  if (listOf(m.topics, isText) === null) return false;
  if ([m.assignment, m.revoking, m.target].some((list) => listOf(list, isPartitionOf) === null)) return false;
  return m.progress === undefined || listOf(m.progress, isProgress) !== null;
}

/** A group's description. Fields newer than the broker (members' progress, dead-letter counts) read as empty. */
export function readDescribeGroupResponse(body: unknown): DescribeGroupResponse {
  const where = 'describeGroup response';
  if (!isMap(body) || !isText(body.group) || !isText(body.state) || !isCount(body.epoch)) throw violation(where, 'group, state and epoch are required');
  const coordinator = body.coordinator;
  if (!isMap(coordinator) || !isCount(coordinator.brokerId) || !isCount(coordinator.partition)) throw violation(where, 'coordinator needs brokerId and partition');
  const members = listOf(body.members, isMember);
  if (members === null) throw violation(where, 'a member needs memberId, instanceId, clientId, clientHost, epoch, topics, assignment, revoking, target, away, joinedAtMs and lastHeardAgoMs');
  const offsets = listOf(body.offsets, isCommitted);
  const held = listOf(body.held, isHeld);
  const counts = body.counts === undefined ? [] : listOf(body.counts, isCounted);
  if (offsets === null || held === null || counts === null) throw violation(where, 'offsets, held and counts must be lists of partitions with their offset, hold end or counts');
  return {
    group: body.group,
    state: body.state as DescribeGroupResponse['state'],
    epoch: body.epoch,
    coordinator: { brokerId: coordinator.brokerId, partition: coordinator.partition },
    members: members.map((m) => ({ ...m, progress: m.progress ?? [] })),
    offsets,
    held,
    counts,
  };
}
