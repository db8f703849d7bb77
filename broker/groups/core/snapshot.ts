import { Decoder, Encoder } from 'cbor-x';
import { SkeinError } from '../../../transport/errors.js';
import { brokerLimits, groupLimits, sdkLimits, transportLimits } from '../../../transport/limits.js';
import { topicNameProblem } from '../../../transport/protocol/messages.js';
import { BodyReader, malformed } from '../../../transport/protocol/validate.js';
import { plainCborProblem } from '../../../transport/rpc/plain-cbor.js';
import { Group, noCounts, type DeadLetterCounts, type StoredOffset } from './group.js';
import type { Member, Owned } from './member.js';
import { utf8Bytes } from './cost.js';
import { keyOf, type TopicPartition } from './partitions.js';
import { GroupShard, type ShardLimits } from './shard.js';

/**
 * A coordinator's groups as the bytes of its Raft snapshot (the state part of
 * the partition snapshot, see LogReplica's snapshotState/restoreState).
 * Versioned plain CBOR; topic names are written once per group and referred
 * to by index, so a member's subscription and a partition cost a few bytes.
 * Reading checks every field, every reference and every invariant of the
 * state machine: a snapshot arrives from the partition's leader when this
 * replica is far behind, and restoring a damaged one would leave a state
 * later commands trip on.
 *
 * GroupsSnapshot => { v: 1, nowMs, groups: [Group] }
 * Group => { name, epoch, memberEpochs, createdAtMs, emptySinceMs, names: [topic], shapes: [[name#, topicId, partitions]],
 *            members: [Member], holds: [[name#, partition, untilMs]],
 *            offsets: [[name#, partition, offset, atMs, deadLettered, skipped, stintEpoch, stintDeadLettered, stintSkipped]]
 *              (the five counts only where one is not zero: a snapshot written before they existed has none),
 *            replaced: [[memberId, instanceId, atMs]] }
 * Member => { id, instanceId, clientId, clientHost, sessionTimeoutMs, rebalanceTimeoutMs, epoch, joinedAtMs,
 *             revokingSinceMs, awaySinceMs, topics: [name#], assigned: [[name#, partition, sinceEpoch, topicId]],
 *             revoking: [[name#, partition, sinceEpoch, topicId]], target: [[name#, partition]] }
 */
export const groupsSnapshotVersion = 1;

const codec = { encoder: new Encoder({ useRecords: false, mapsAsObjects: true }), decoder: new Decoder({ useRecords: false, mapsAsObjects: true }) };

export function encodeGroupsSnapshot(shard: GroupShard): Uint8Array {
  const groups = [...shard.entries()].map(([, group]) => writeGroup(group));
  return codec.encoder.encode({ v: groupsSnapshotVersion, nowMs: shard.nowMs, groups });
}

/** Reads and checks a snapshot; MALFORMED_REQUEST naming what is wrong. */
export function decodeGroupsSnapshot(bytes: Uint8Array, limits: ShardLimits = groupLimits): GroupShard {
  const r = new BodyReader(decodePlainCbor(bytes, 'groups snapshot'), 'groups snapshot');
  const version = r.int('v', { min: 0, max: 0xffff });
  if (version !== groupsSnapshotVersion) throw malformed(`groups snapshot version ${version} is not one this broker reads (${groupsSnapshotVersion})`);
  const nowMs = r.int('nowMs', { min: 0, max: Number.MAX_SAFE_INTEGER });
  const groups = r.list('groups', { lengthMax: limits.groupsPerCoordinatorMax }, (entry, where) => readGroup(entry, where, limits))!;
  if (new Set(groups.map((g) => g.name)).size !== groups.length) throw malformed('groups snapshot holds a group twice');
  return GroupShard.restore(groups, nowMs, limits);
}

/** Whether restoring these bytes would succeed (a snapshot from a peer is checked on receipt). */
export function isGroupsSnapshot(bytes: Uint8Array, limits: ShardLimits = groupLimits): boolean {
  try {
    decodeGroupsSnapshot(bytes, limits);
    return true;
  } catch {
    return false;
  }
}

/** Plain CBOR (no tags, records or extensions; bounded depth) decoded, or MALFORMED_REQUEST saying `what` it was meant to be. */
export function decodePlainCbor(bytes: Uint8Array, what: string): unknown {
  const problem = plainCborProblem(bytes, transportLimits.rpcFrameDepthMax);
  if (problem !== null) throw malformed(`${what} is not plain CBOR: ${problem}`);
  try {
    return codec.decoder.decode(bytes);
  } catch (error) {
    throw new SkeinError('MALFORMED_REQUEST', { message: `${what} is not CBOR`, cause: error });
  }
}

// ------------------------------------------------------------------ writing

function writeGroup(group: Group): unknown {
  const names: string[] = [];
  const index = new Map<string, number>();
  const ref = (topic: string): number => {
    let i = index.get(topic);
    if (i === undefined) {
      index.set(topic, (i = names.length));
      names.push(topic);
    }
    return i;
  };
  const owned = (entries: Iterable<Owned>): number[][] => [...entries].map((o) => [ref(o.tp.topic), o.tp.partition, o.sinceEpoch, o.topicId]);
  const members = group.sortedMembers().map((m) => ({
    id: m.memberId,
    instanceId: m.instanceId,
    clientId: m.clientId,
    clientHost: m.clientHost,
    sessionTimeoutMs: m.sessionTimeoutMs,
    rebalanceTimeoutMs: m.rebalanceTimeoutMs,
    epoch: m.epoch,
    joinedAtMs: m.joinedAtMs,
    revokingSinceMs: m.revokingSinceMs,
    awaySinceMs: m.awaySinceMs,
    topics: m.topics.map(ref),
    assigned: owned(m.assigned.values()),
    revoking: owned(m.revoking.values()),
    target: (group.target.get(m.memberId) ?? []).map((tp) => [ref(tp.topic), tp.partition]),
  }));
  return {
    name: group.name,
    epoch: group.epoch,
    memberEpochs: group.memberEpochs,
    createdAtMs: group.createdAtMs,
    emptySinceMs: group.emptySinceMs,
    shapes: [...group.topics.values()].map((s) => [ref(s.name), s.topicId, s.partitions]),
    members,
    holds: [...group.holds.values()].map((h) => [ref(h.tp.topic), h.tp.partition, h.untilMs]),
    offsets: [...group.offsets.values()].map((o) => [ref(o.topic), o.partition, o.offset, o.committedAtMs, ...(o.counts === noCounts ? [] : countsTuple(o.counts))]),
    replaced: [...group.replaced].map(([memberId, r]) => [memberId, r.instanceId, r.atMs]),
    // Last, once every reference above has been interned.
    names,
  };
}

// ------------------------------------------------------------------ reading

const safe = { min: 0, max: Number.MAX_SAFE_INTEGER };
const partitionRange = { min: 0, max: brokerLimits.partitionsPerTopicMax - 1 };

function readGroup(value: unknown, where: string, limits: ShardLimits): Group {
  const r = new BodyReader(value, where);
  const name = r.string('name', { bytesMax: groupLimits.groupNameBytesMax });
  if (name.length === 0) throw malformed(`${where}.name is empty`);
  const names = r.list('names', { lengthMax: Number.MAX_SAFE_INTEGER }, (v, at) => {
    const problem = topicNameProblem(v);
    if (problem !== null) throw malformed(`${at}: ${problem}`);
    return v as string;
  })!;
  if (new Set(names).size !== names.length) throw malformed(`${where}.names lists a topic twice`);
  const topic = (v: unknown, at: string): string => names[int(v, at, { min: 0, max: names.length - 1 })]!;
  const partitionOf = (v: unknown, at: string): TopicPartition => {
    const [name, partition] = tuple(v, at, 2, 9);
    return { topic: topic(name, `${at}[0]`), partition: int(partition, `${at}[1]`, partitionRange) };
  };
  const group = new Group(name, r.int('createdAtMs', safe), limits.replacedMembersMax);
  group.epoch = r.int('epoch', safe);
  group.memberEpochs = r.int('memberEpochs', safe);
  group.emptySinceMs = r.raw('emptySinceMs') === null ? null : r.int('emptySinceMs', safe);
  for (const shape of r.list('shapes', { lengthMax: names.length }, (v, at) => tuple(v, at, 3, 3))!) {
    const shapeName = topic(shape[0], `${where}.shapes`);
    if (group.topics.has(shapeName)) throw malformed(`${where}.shapes lists ${shapeName} twice`);
    group.topics.set(shapeName, { name: shapeName, topicId: int(shape[1], `${where}.shapes`, { min: 1, max: Number.MAX_SAFE_INTEGER }), partitions: int(shape[2], `${where}.shapes`, { min: 1, max: brokerLimits.partitionsPerTopicMax }) });
  }
  for (const member of r.list('members', { lengthMax: limits.membersPerGroupMax }, (v, at) => readMember(v, at, topic, partitionOf))!) {
    if (group.members.has(member.memberId)) throw malformed(`${where}.members lists ${member.memberId} twice`);
    group.members.set(member.memberId, member.member);
    group.target.set(member.memberId, member.target);
  }
  for (const [tp, untilMs] of r.list('holds', { lengthMax: Number.MAX_SAFE_INTEGER }, (v, at) => [partitionOf(v, at), int(tuple(v, at, 3, 3)[2], at, safe)] as const)!) {
    if (group.holds.has(keyOf(tp))) throw malformed(`${where}.holds lists ${keyOf(tp)} twice`);
    group.holds.set(keyOf(tp), { tp, untilMs });
  }
  for (const o of r.list('offsets', { lengthMax: Number.MAX_SAFE_INTEGER }, (v, at) => readOffset(v, at, partitionOf))!) {
    if (group.offsets.has(keyOf(o))) throw malformed(`${where}.offsets lists ${keyOf(o)} twice`);
    group.offsets.set(keyOf(o), o);
  }
  for (const entry of r.list('replaced', { lengthMax: limits.replacedMembersMax }, (v, at) => tuple(v, at, 3, 3))!) {
    const memberId = string(entry[0], `${where}.replaced`, groupLimits.memberIdBytesMax);
    group.replaced.set(memberId, { instanceId: string(entry[1], `${where}.replaced`, groupLimits.instanceIdBytesMax), atMs: int(entry[2], `${where}.replaced`, safe) });
  }
  group.indexOwners();
  const problem = group.invariantProblem();
  if (problem !== null) throw malformed(`${where} (group ${name}): ${problem}`);
  return group;
}

function readMember(
  value: unknown,
  where: string,
  topic: (v: unknown, at: string) => string,
  partitionOf: (v: unknown, at: string) => TopicPartition,
): { memberId: string; member: Member; target: TopicPartition[] } {
  const r = new BodyReader(value, where);
  const memberId = r.string('id', { bytesMax: groupLimits.memberIdBytesMax });
  if (memberId.length === 0) throw malformed(`${where}.id is empty`);
  const nullableTime = (key: string): number | null => (r.raw(key) === null ? null : r.int(key, safe));
  const owned = (key: string): Map<string, Owned> => {
    const map = new Map<string, Owned>();
    const read = (v: unknown, at: string): Owned => {
      const entry = tuple(v, at, 4, 4);
      return { tp: partitionOf(v, at), sinceEpoch: int(entry[2], at, safe), topicId: int(entry[3], at, { min: 1, max: Number.MAX_SAFE_INTEGER }) };
    };
    for (const entry of r.list(key, { lengthMax: Number.MAX_SAFE_INTEGER }, read)!) {
      if (map.has(keyOf(entry.tp))) throw malformed(`${where}.${key} lists ${keyOf(entry.tp)} twice`);
      map.set(keyOf(entry.tp), entry);
    }
    return map;
  };
  const member: Member = {
    memberId,
    instanceId: r.raw('instanceId') === null ? null : r.string('instanceId', { bytesMax: groupLimits.instanceIdBytesMax }),
    clientId: r.string('clientId', { bytesMax: sdkLimits.clientIdBytesMax }),
    clientHost: r.string('clientHost', { bytesMax: groupLimits.clientHostBytesMax }),
    sessionTimeoutMs: r.int('sessionTimeoutMs', { min: groupLimits.sessionTimeoutMsMin, max: groupLimits.sessionTimeoutMsMax }),
    rebalanceTimeoutMs: r.int('rebalanceTimeoutMs', { min: groupLimits.rebalanceTimeoutMsMin, max: groupLimits.rebalanceTimeoutMsMax }),
    epoch: r.int('epoch', safe),
    joinedAtMs: r.int('joinedAtMs', safe),
    revokingSinceMs: nullableTime('revokingSinceMs'),
    awaySinceMs: nullableTime('awaySinceMs'),
    topics: r.list('topics', { lengthMax: groupLimits.topicsPerGroupMax }, topic)!,
    assigned: owned('assigned'),
    revoking: owned('revoking'),
  };
  if (new Set(member.topics).size !== member.topics.length || member.topics.some((t, i) => i > 0 && !(member.topics[i - 1]! < t))) {
    throw malformed(`${where}.topics must be sorted, without repeats`);
  }
  return { memberId, member, target: r.list('target', { lengthMax: groupLimits.partitionsPerGroupMax }, partitionOf)! };
}

function readOffset(value: unknown, where: string, partitionOf: (v: unknown, at: string) => TopicPartition): StoredOffset {
  const entry = tuple(value, where, 4, 9);
  if (entry.length !== 4 && entry.length !== 9) throw malformed(`${where} must hold 4 items, or 9 with its counts`);
  const { topic, partition } = partitionOf(value, where);
  const [deadLettered, skipped, stintEpoch, stintDeadLettered, stintSkipped] = entry.slice(4).map((v, i) => int(v, `${where}[${4 + i}]`, safe));
  const counts = stintEpoch === undefined ? noCounts : { deadLettered: deadLettered!, skipped: skipped!, stintEpoch, stintDeadLettered: stintDeadLettered!, stintSkipped: stintSkipped! };
  if (counts.stintDeadLettered > counts.deadLettered || counts.stintSkipped > counts.skipped) throw malformed(`${where}: the counts of the current owner exceed the totals`);
  return { topic, partition, offset: int(entry[2], where, safe), committedAtMs: int(entry[3], where, safe), counts };
}

function countsTuple(c: DeadLetterCounts): number[] {
  return [c.deadLettered, c.skipped, c.stintEpoch, c.stintDeadLettered, c.stintSkipped];
}

function tuple(value: unknown, where: string, lengthMin: number, lengthMax: number): unknown[] {
  if (!Array.isArray(value) || value.length < lengthMin || value.length > lengthMax) throw malformed(`${where} must be a list of ${lengthMin}-${lengthMax} items`);
  return value;
}

function int(value: unknown, where: string, range: { min: number; max: number }): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < range.min || value > range.max) {
    throw malformed(`${where} must be an integer between ${range.min} and ${range.max}`);
  }
  return value;
}

function string(value: unknown, where: string, bytesMax: number): string {
  if (typeof value !== 'string' || value.length === 0 || utf8Bytes(value) > bytesMax) throw malformed(`${where} must be a string of 1-${bytesMax} bytes`);
  return value;
}
