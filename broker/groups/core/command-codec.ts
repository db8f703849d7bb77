import { Encoder } from 'cbor-x';
import { brokerLimits, groupLimits } from '../../../transport/limits.js';
import { groupNameProblem, readCounts } from '../../../transport/protocol/groups.js';
import { topicNameProblem } from '../../../transport/protocol/messages.js';
import { BodyReader, malformed } from '../../../transport/protocol/validate.js';
import type { CommittedOffset, ExpireReason, GroupCommand, JoinDetails, ShapeStamp } from './commands.js';
import type { TopicPartition, TopicShape } from './partitions.js';
import { decodePlainCbor } from './snapshot.js';

/**
 * Group commands as the values of records in a coordinator's log (one
 * command per record): plain CBOR maps, the command's own field names.
 * Written by the coordinator, read by every replica as entries apply and
 * again after a restart; read checked, field by field, since a replica must
 * never apply what it cannot trust to be whole (MALFORMED_REQUEST naming the
 * field).
 */
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true });

export function encodeGroupCommand(command: GroupCommand): Uint8Array {
  return encoder.encode(command);
}

export function decodeGroupCommand(bytes: Uint8Array): GroupCommand {
  return readCommand(decodePlainCbor(bytes, 'group command'));
}

const time = { min: 0, max: Number.MAX_SAFE_INTEGER };
const commandTypes = ['heartbeat', 'leave', 'expire', 'commit', 'reset', 'delete', 'topics', 'expireGroup'] as const;

function readCommand(value: unknown): GroupCommand {
  const r = new BodyReader(value, 'group command');
  const type = r.oneOf('type', commandTypes);
  const groupName = r.raw('group');
  const problem = groupNameProblem(groupName);
  if (problem !== null) throw malformed(`group command.group: ${problem}`);
  const group = groupName as string;
  const nowMs = r.int('nowMs', time);
  switch (type) {
    case 'heartbeat':
      return readHeartbeat(r, group, nowMs);
    case 'leave':
      return { type, group, nowMs, memberId: memberId(r), epoch: r.int('epoch', time), temporary: r.bool('temporary', false) };
    case 'expire':
      return { type, group, nowMs, memberId: memberId(r), reason: r.oneOf<ExpireReason>('reason', ['session', 'rebalance', 'away']), leaseEndMs: r.int('leaseEndMs', time) };
    case 'commit':
      return { type, group, nowMs, memberId: memberId(r), epoch: r.int('epoch', time), offsets: offsets(r) };
    case 'reset':
      return { type, group, nowMs, offsets: offsets(r), ...stamp(r) };
    case 'topics':
      return { type, group, nowMs, ...stamp(r) };
    case 'delete':
    case 'expireGroup':
      return { type, group, nowMs };
  }
}

function readHeartbeat(r: BodyReader, group: string, nowMs: number): GroupCommand {
  const command: { -readonly [K in keyof Extract<GroupCommand, { type: 'heartbeat' }>]: Extract<GroupCommand, { type: 'heartbeat' }>[K] } = {
    type: 'heartbeat',
    group,
    nowMs,
    memberId: memberId(r),
    epoch: r.int('epoch', time),
    ...stamp(r),
  };
  if (r.has('join')) command.join = readJoin(r.reader('join'));
  const topics = r.list('topics', { lengthMax: groupLimits.topicsPerGroupMax, optional: true }, topicName);
  if (topics !== undefined) command.topics = topics;
  const owned = r.list('owned', { lengthMax: groupLimits.partitionsPerGroupMax, optional: true }, partitionOf);
  if (owned !== undefined) command.owned = owned;
  const leaseEnd = r.int('replacedLeaseEndMs', { ...time, optional: true });
  if (leaseEnd !== undefined) command.replacedLeaseEndMs = leaseEnd;
  return command;
}

function readJoin(r: BodyReader): JoinDetails {
  const instanceId = r.string('instanceId', { bytesMax: groupLimits.instanceIdBytesMax, optional: true }) ?? null;
  return {
    instanceId,
    clientId: r.string('clientId', { bytesMax: 256 }),
    clientHost: r.string('clientHost', { bytesMax: groupLimits.clientHostBytesMax }),
    sessionTimeoutMs: r.int('sessionTimeoutMs', { min: groupLimits.sessionTimeoutMsMin, max: groupLimits.sessionTimeoutMsMax }),
    rebalanceTimeoutMs: r.int('rebalanceTimeoutMs', { min: groupLimits.rebalanceTimeoutMsMin, max: groupLimits.rebalanceTimeoutMsMax }),
  };
}

function memberId(r: BodyReader): string {
  return r.string('memberId', { bytesMax: groupLimits.memberIdBytesMax });
}

function topicName(value: unknown, where: string): string {
  const problem = topicNameProblem(value);
  if (problem !== null) throw malformed(`${where}: ${problem}`);
  return value as string;
}

function partitionNumber(r: BodyReader): number {
  return r.int('partition', { min: 0, max: brokerLimits.partitionsPerTopicMax - 1 });
}

function partitionOf(value: unknown, where: string): TopicPartition {
  const r = new BodyReader(value, where);
  return { topic: topicName(r.raw('topic'), `${where}.topic`), partition: partitionNumber(r) };
}

function offsets(r: BodyReader): CommittedOffset[] {
  return r.list('offsets', { lengthMax: groupLimits.partitionsPerGroupMax }, (value, where) => {
    const o = new BodyReader(value, where);
    return { topic: topicName(o.raw('topic'), `${where}.topic`), topicId: o.int('topicId', { min: 0, max: 0xffff_ffff }), partition: partitionNumber(o), offset: o.int('offset', time), ...readCounts(o) };
  })!;
}

function stamp(r: BodyReader): ShapeStamp {
  const out: { shapes?: TopicShape[]; missing?: string[] } = {};
  const shapes = r.list('shapes', { lengthMax: groupLimits.topicsPerGroupMax, optional: true }, (value, where) => {
    const s = new BodyReader(value, where);
    return { name: topicName(s.raw('name'), `${where}.name`), topicId: s.int('topicId', { min: 0, max: 0xffff_ffff }), partitions: s.int('partitions', { min: 1, max: brokerLimits.partitionsPerTopicMax }) };
  });
  if (shapes !== undefined) out.shapes = shapes;
  const missing = r.list('missing', { lengthMax: groupLimits.topicsPerGroupMax, optional: true }, topicName);
  if (missing !== undefined) out.missing = missing;
  return out;
}
