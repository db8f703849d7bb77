import { SkeinError } from '../errors.js';
import { brokerLimits, groupLimits } from '../limits.js';
import { topicNameProblem } from './messages.js';
import { murmur2 } from './murmur2.js';
import { BodyReader, malformed } from './validate.js';

/**
 * The consumer-group protocol. A group lives in one partition of the internal
 * topic `__skein_groups` (murmur2 of its name, as Kafka places groups in
 * `__consumer_offsets`); that partition's leader is the group's coordinator.
 * `findCoordinator` goes to any broker; every other group request is a
 * partition request on (`__skein_groups`, partition), so leader routing,
 * NOT_LEADER hints and retries are the client's ordinary ones.
 *
 * Version 1, new optional fields only (see messages.ts).
 */
export const groupsTopic = '__skein_groups';

/** Topics whose names start with this belong to skein itself: clients cannot create, delete, produce to or read them. */
export const internalTopicPrefix = '__skein';

export function isInternalTopic(name: string): boolean {
  return name.startsWith(internalTopicPrefix);
}

export const groupMethods = {
  findCoordinator: 'findCoordinator',
  groupHeartbeat: 'groupHeartbeat',
  groupLeave: 'groupLeave',
  offsetCommit: 'offsetCommit',
  offsetFetch: 'offsetFetch',
  listGroups: 'listGroups',
  describeGroup: 'describeGroup',
  resetOffsets: 'resetOffsets',
  deleteGroup: 'deleteGroup',
} as const;

/** The partition of `__skein_groups` that holds `group`: fixed forever, so broker and client must hash alike. */
export function coordinatorPartition(group: string, partitions: number): number {
  return (murmur2(Buffer.from(group, 'utf8')) & 0x7fffffff) % partitions;
}

// eslint-disable-next-line no-control-regex
const controlCharacters = /[\u0000-\u001f\u007f]/;

/** Group names: 1–groupNameBytesMax bytes of UTF-8, no control characters. */
export function groupNameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return 'a group name must be a string';
  if (name.length === 0) return 'a group name must not be empty';
  if (Buffer.byteLength(name) > groupLimits.groupNameBytesMax) return `a group name is at most ${groupLimits.groupNameBytesMax} bytes of UTF-8`;
  if (controlCharacters.test(name)) return 'a group name must not hold control characters';
  return null;
}

const memberIdPattern = /^[A-Za-z0-9_-]+$/;

// ---------------------------------------------------------------- shapes

export interface GroupPartition {
  topic: string;
  partition: number;
}

export interface OffsetEntry {
  topic: string;
  /** The topic's id as the sender knows it: an offset for a deleted and recreated topic is refused. */
  topicId: number;
  partition: number;
  offset: number;
  /** In a member's commit: records of the partition it dead-lettered and skipped since it was given the partition (cumulative). */
  deadLettered?: number;
  skipped?: number;
}

export interface FindCoordinatorRequest {
  group: string;
}
export interface FindCoordinatorResponse {
  topic: string;
  partition: number;
  partitions: number;
}

export interface HeartbeatRequest {
  group: string;
  memberId: string;
  /** 0 joins; otherwise the latest epoch the member was given. */
  memberEpoch: number;
  instanceId?: string;
  clientId?: string;
  sessionTimeoutMs?: number;
  rebalanceTimeoutMs?: number;
  /** The subscription: required to join, sent again whenever it changes. */
  topics?: string[];
  /** What the member holds now (assigned and still draining): a revoked partition it no longer lists is released. */
  owned?: GroupPartition[];
  /** How the member's consumption of each partition it holds is going (soft state: shown by describeGroup, never logged). */
  progress?: MemberProgress[];
}

/** One member's consumption of one partition it holds, as it reports it in its heartbeats. */
export interface MemberProgress {
  topic: string;
  partition: number;
  /** The offset after the last record read from the log (null: none yet). */
  fetched: number | null;
  /** The offset after the last record the application finished with: what the member commits (null: none yet). */
  finished: number | null;
  /** Since `finished` last moved (or the partition was given). */
  idleMs: number;
  /** Records this member sent to the dead-letter topic, and records it skipped (a handler out of attempts without one, a record that does not decode, retention). */
  deadLettered: number;
  skipped: number;
}

export interface AssignedPartition {
  topic: string;
  topicId: number;
  partition: number;
  /** Where the group's consumption of it stands: the next offset to read, or null when nothing was committed. */
  committed: number | null;
}

export interface HeartbeatResponse {
  memberId: string;
  memberEpoch: number;
  groupEpoch: number;
  heartbeatIntervalMs: number;
  assignment: AssignedPartition[];
  /** Partitions meant for this member that others have not released yet: heartbeat again soon. */
  pending: number;
}

export interface LeaveRequest {
  group: string;
  memberId: string;
  memberEpoch: number;
  /** A static member coming back soon (a restart): its partitions wait for it for its session timeout. */
  temporary: boolean;
}

export interface CommitRequest {
  group: string;
  memberId: string;
  memberEpoch: number;
  offsets: OffsetEntry[];
}
export interface CommitResponse {
  /** What is stored now per partition (never lower than before: an older commit leaves a newer one in place). */
  offsets: { topic: string; partition: number; offset: number }[];
}

export interface OffsetFetchRequest {
  group: string;
  topics?: string[];
}
export interface OffsetFetchResponse {
  offsets: { topic: string; partition: number; offset: number; committedAtMs: number }[];
}

export interface ListGroupsRequest {
  /** The coordinator partition to list (the admin asks each in turn). */
  partition: number;
}
export interface ListGroupsResponse {
  groups: { group: string; state: string; members: number }[];
}

export interface DescribeGroupRequest {
  group: string;
}
export interface DescribeGroupResponse {
  group: string;
  state: 'empty' | 'reconciling' | 'stable';
  epoch: number;
  coordinator: { brokerId: number; partition: number };
  members: {
    memberId: string;
    instanceId: string | null;
    clientId: string;
    clientHost: string;
    epoch: number;
    topics: string[];
    assignment: GroupPartition[];
    revoking: GroupPartition[];
    target: GroupPartition[];
    away: boolean;
    joinedAtMs: number;
    /** Since the coordinator last heard it (null: not since this coordinator took over). */
    lastHeardAgoMs: number | null;
    /** Its last report on each partition it holds, idleMs counted to now (empty: none since this coordinator took over). */
    progress: MemberProgress[];
  }[];
  offsets: { topic: string; partition: number; offset: number; committedAtMs: number }[];
  held: { topic: string; partition: number; untilMs: number }[];
  /** Records dead-lettered and skipped per partition, as the members committed them (replicated with the offsets: they survive a coordinator change). */
  counts: { topic: string; partition: number; deadLettered: number; skipped: number }[];
}

export interface ResetOffsetsRequest {
  group: string;
  offsets: OffsetEntry[];
}

export interface DeleteGroupRequest {
  group: string;
}

// ---------------------------------------------------------------- readers

function readGroupName(r: BodyReader, where: string): string {
  const value = r.raw('group');
  const problem = groupNameProblem(value);
  if (problem !== null) throw malformed(`${where}.group: ${problem}`);
  return value as string;
}

function readMemberId(r: BodyReader, where: string): string {
  const value = r.string('memberId', { bytesMax: groupLimits.memberIdBytesMax });
  if (!memberIdPattern.test(value)) throw malformed(`${where}.memberId must be 1 to ${groupLimits.memberIdBytesMax} characters of [A-Za-z0-9_-]`);
  return value;
}

function readTopic(value: unknown, where: string): string {
  const problem = topicNameProblem(value);
  if (problem !== null) throw malformed(`${where}: ${problem}`);
  return value as string;
}

function readEpoch(r: BodyReader): number {
  return r.int('memberEpoch', { min: 0, max: Number.MAX_SAFE_INTEGER });
}

function readPartitionNumber(r: BodyReader): number {
  return r.int('partition', { min: 0, max: brokerLimits.partitionsPerTopicMax - 1 });
}

function readTopicList(r: BodyReader, key: string, optional: boolean): string[] | undefined {
  return r.list(key, { lengthMax: groupLimits.topicsPerGroupMax, optional }, (v, where) => readTopic(v, where));
}

export function readFindCoordinator(body: unknown): FindCoordinatorRequest {
  const r = new BodyReader(body, 'findCoordinator');
  return { group: readGroupName(r, 'findCoordinator') };
}

export function readHeartbeat(body: unknown): HeartbeatRequest {
  const where = 'groupHeartbeat';
  const r = new BodyReader(body, where);
  const request: HeartbeatRequest = { group: readGroupName(r, where), memberId: readMemberId(r, where), memberEpoch: readEpoch(r) };
  const instanceId = r.string('instanceId', { bytesMax: groupLimits.instanceIdBytesMax, optional: true });
  if (instanceId !== undefined) {
    if (instanceId.length === 0) throw malformed(`${where}.instanceId must not be empty`);
    request.instanceId = instanceId;
  }
  const clientId = r.string('clientId', { bytesMax: 256, optional: true });
  if (clientId !== undefined) request.clientId = clientId;
  const session = r.int('sessionTimeoutMs', { min: groupLimits.sessionTimeoutMsMin, max: groupLimits.sessionTimeoutMsMax, optional: true });
  if (session !== undefined) request.sessionTimeoutMs = session;
  const rebalance = r.int('rebalanceTimeoutMs', { min: groupLimits.rebalanceTimeoutMsMin, max: groupLimits.rebalanceTimeoutMsMax, optional: true });
  if (rebalance !== undefined) request.rebalanceTimeoutMs = rebalance;
  const topics = readTopicList(r, 'topics', true);
  if (topics !== undefined) request.topics = topics;
  const owned = r.list('owned', { lengthMax: groupLimits.partitionsPerGroupMax, optional: true }, (v, w) => readPair(v, w));
  if (owned !== undefined) request.owned = owned;
  const progress = r.list('progress', { lengthMax: groupLimits.partitionsPerGroupMax, optional: true }, (v, w) => readProgress(v, w));
  if (progress !== undefined) request.progress = progress;
  if (request.memberEpoch === 0 && (request.topics === undefined || request.topics.length === 0)) throw malformed(`${where}: a join (memberEpoch 0) names the topics it subscribes to`);
  return request;
}

/** A partition on the wire: [topic, partition]. */
function readPair(value: unknown, where: string): GroupPartition {
  if (!Array.isArray(value) || value.length !== 2) throw malformed(`${where} must be [topic, partition]`);
  const partition = value[1];
  if (typeof partition !== 'number' || !Number.isSafeInteger(partition) || partition < 0 || partition >= brokerLimits.partitionsPerTopicMax) throw malformed(`${where}[1] must be a partition number`);
  return { topic: readTopic(value[0], `${where}[0]`), partition };
}

function readProgress(value: unknown, where: string): MemberProgress {
  const r = new BodyReader(value, where);
  const offset = (key: string): number | null => (r.raw(key) === null ? null : r.int(key, { min: 0, max: Number.MAX_SAFE_INTEGER }));
  const count = (key: string): number => r.int(key, { min: 0, max: Number.MAX_SAFE_INTEGER });
  return {
    topic: readTopic(r.raw('topic'), `${where}.topic`),
    partition: readPartitionNumber(r),
    fetched: offset('fetched'),
    finished: offset('finished'),
    idleMs: count('idleMs'),
    deadLettered: count('deadLettered'),
    skipped: count('skipped'),
  };
}

export function readLeave(body: unknown): LeaveRequest {
  const r = new BodyReader(body, 'groupLeave');
  return { group: readGroupName(r, 'groupLeave'), memberId: readMemberId(r, 'groupLeave'), memberEpoch: readEpoch(r), temporary: r.bool('temporary', false) };
}

/** Optional dead-letter and skip counts of an offset entry (absent when zero). */
export function readCounts(o: BodyReader): { deadLettered?: number; skipped?: number } {
  const deadLettered = o.int('deadLettered', { min: 0, max: Number.MAX_SAFE_INTEGER, optional: true });
  const skipped = o.int('skipped', { min: 0, max: Number.MAX_SAFE_INTEGER, optional: true });
  return { ...(deadLettered === undefined ? {} : { deadLettered }), ...(skipped === undefined ? {} : { skipped }) };
}

function readOffsets(r: BodyReader): OffsetEntry[] {
  const offsets = r.list('offsets', { lengthMax: groupLimits.partitionsPerGroupMax }, (value, where) => {
    const o = new BodyReader(value, where);
    const entry: OffsetEntry = {
      topic: readTopic(o.raw('topic'), `${where}.topic`),
      topicId: o.int('topicId', { min: 0, max: 0xffff_ffff }),
      partition: readPartitionNumber(o),
      offset: o.int('offset', { min: 0, max: Number.MAX_SAFE_INTEGER }),
    };
    return { ...entry, ...readCounts(o) };
  })!;
  if (offsets.length === 0) throw malformed('offsets must not be empty');
  return offsets;
}

export function readCommit(body: unknown): CommitRequest {
  const r = new BodyReader(body, 'offsetCommit');
  return { group: readGroupName(r, 'offsetCommit'), memberId: readMemberId(r, 'offsetCommit'), memberEpoch: readEpoch(r), offsets: readOffsets(r) };
}

export function readOffsetFetch(body: unknown): OffsetFetchRequest {
  const r = new BodyReader(body, 'offsetFetch');
  const topics = readTopicList(r, 'topics', true);
  return topics === undefined ? { group: readGroupName(r, 'offsetFetch') } : { group: readGroupName(r, 'offsetFetch'), topics };
}

export function readListGroups(body: unknown): ListGroupsRequest {
  const r = new BodyReader(body, 'listGroups');
  return { partition: r.int('partition', { min: 0, max: groupLimits.coordinatorPartitionsMax - 1 }) };
}

export function readDescribeGroup(body: unknown): DescribeGroupRequest {
  return { group: readGroupName(new BodyReader(body, 'describeGroup'), 'describeGroup') };
}

export function readResetOffsets(body: unknown): ResetOffsetsRequest {
  const r = new BodyReader(body, 'resetOffsets');
  return { group: readGroupName(r, 'resetOffsets'), offsets: readOffsets(r) };
}

export function readDeleteGroup(body: unknown): DeleteGroupRequest {
  return { group: readGroupName(new BodyReader(body, 'deleteGroup'), 'deleteGroup') };
}

export function notInternal(topic: string, what: string): void {
  if (isInternalTopic(topic)) throw new SkeinError('NOT_AUTHORIZED', { message: `${what}: topic ${topic} is internal to skein` });
}
