import { Decoder, Encoder } from 'cbor-x';
import { SkeinError } from '../../transport/errors.js';
import { brokerLimits, clusterLimits, transportLimits } from '../../transport/limits.js';
import { plainCborProblem } from '../../transport/rpc/index.js';
import { readTopicConfig, topicNameProblem, type TopicConfig } from '../../transport/protocol/messages.js';
import { BodyReader } from '../../transport/protocol/validate.js';
import { brokerStates } from './core/brokers.js';
import { moveReasons, readMoveRecord, readMoveReport, readReplicaList } from './core/move-record.js';
import { clusterKeyBytes, type BrokerRecord, type MetadataCommand, type MetadataSnapshot, type MoveOutcomeRecord, type PartitionRecord, type TopicRecord } from './metadata-state.js';

/**
 * Metadata commands as bytes: each is the value of a one-record batch in the
 * metadata group's log. Decoding re-validates everything, because a command
 * also arrives from other brokers (forwarded to the controller) and a log
 * written by an older version must not crash a newer one.
 */
// Byte strings (the cluster key) as plain CBOR byte strings, never typed-array tags, which decoding refuses.
const codec = { encoder: new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false }), decoder: new Decoder({ useRecords: false, mapsAsObjects: true }) };

export function encodeCommand(command: MetadataCommand): Uint8Array {
  return encodeMetadata(command);
}

export function decodeCommand(bytes: Uint8Array): MetadataCommand {
  return readCommand(decodeMetadata(bytes, 'metadata command'));
}

/** Metadata (commands, the controller's snapshot) as CBOR: one codec for both. */
export function encodeMetadata(value: unknown): Uint8Array {
  return codec.encoder.encode(value);
}

/** Plain CBOR only: tags are refused before cbor-x sees them, as everywhere else bytes come from another process. */
export function decodeMetadata(bytes: Uint8Array, what: string): unknown {
  const problem = plainCborProblem(bytes, transportLimits.rpcFrameDepthMax);
  if (problem !== null) throw new SkeinError('MALFORMED_REQUEST', { message: `${what} is not plain CBOR: ${problem}` });
  try {
    return codec.decoder.decode(bytes);
  } catch (error) {
    throw new SkeinError('MALFORMED_REQUEST', { message: `${what} is not CBOR`, cause: error });
  }
}

/** Validates a command received as a decoded value (from the log or from a peer). */
export function readCommand(value: unknown): MetadataCommand {
  const r = new BodyReader(value, 'command');
  const type = r.oneOf('type', ['registerBroker', 'activateBroker', 'decommissionBroker', 'recommissionBroker', 'brokerGone', 'createTopic', 'deleteTopic', 'partitionLeader', 'addPartitions', 'setReplicationFactor', 'reassignPartition', 'startMoves', 'cancelMove', 'moveReport', 'clusterKey', 'producerIds']);
  switch (type) {
    case 'registerBroker': {
      const broker = readBroker(r.raw('broker'), 'command.broker');
      // Absent in commands written before data directories had an identity.
      const storageId = r.has('storageId') ? readStorageId(r) : null;
      return { type, broker, storageId };
    }
    case 'activateBroker':
    case 'decommissionBroker':
    case 'recommissionBroker':
    case 'brokerGone':
      return { type, id: r.int('id', { min: 1, max: brokerLimits.brokerIdMax }) };
    case 'createTopic': {
      const name = r.string('name', { bytesMax: brokerLimits.topicNameBytesMax });
      const problem = topicNameProblem(name);
      if (problem !== null) throw new SkeinError('INVALID_TOPIC', { message: problem });
      const assignment = r.list('assignment', { lengthMax: brokerLimits.partitionsPerTopicMax }, readReplicaList)!;
      if (assignment.length === 0) throw new SkeinError('MALFORMED_REQUEST', { message: 'command.assignment is empty' });
      return { type, name, assignment, config: completeConfig(readTopicConfig(r.raw('config'))) };
    }
    case 'deleteTopic':
      return { type, name: r.string('name', { bytesMax: brokerLimits.topicNameBytesMax }) };
    case 'partitionLeader':
      return {
        type,
        topicId: r.int('topicId', { min: 1, max: Number.MAX_SAFE_INTEGER }),
        partition: r.int('partition', { min: 0, max: brokerLimits.partitionsPerTopicMax - 1 }),
        leader: readLeader(r),
        leaderEpoch: r.int('leaderEpoch', { min: 0, max: Number.MAX_SAFE_INTEGER }),
      };
    case 'addPartitions': {
      const topicId = r.int('topicId', { min: 1, max: Number.MAX_SAFE_INTEGER });
      const assignment = r.list('assignment', { lengthMax: brokerLimits.partitionsPerTopicMax }, readReplicaList)!;
      if (assignment.length === 0) throw new SkeinError('MALFORMED_REQUEST', { message: 'command.assignment is empty' });
      return { type, topicId, assignment };
    }
    case 'setReplicationFactor':
      return { type, topicId: r.int('topicId', { min: 1, max: Number.MAX_SAFE_INTEGER }), replicationFactor: r.int('replicationFactor', { min: 1, max: brokerLimits.replicationFactorMax }) };
    case 'reassignPartition':
      return { type, ...readPartitionRef(r), target: readReplicaList(r.raw('target'), 'command.target'), reason: r.oneOf('reason', moveReasons), atMs: readAtMs(r) };
    case 'startMoves': {
      const moves = r.list('moves', { lengthMax: clusterLimits.movesInFlightMax }, (value, where) => {
        const m = new BodyReader(value, where);
        return { ...readPartitionRef(m), moveId: m.int('moveId', { min: 1, max: Number.MAX_SAFE_INTEGER }) };
      })!;
      return { type, moves, atMs: readAtMs(r) };
    }
    case 'cancelMove':
      return { type, ...readPartitionRef(r), reason: r.string('reason', { bytesMax: brokerLimits.metadataStringBytesMax }), atMs: readAtMs(r) };
    case 'moveReport':
      return { type, ...readPartitionRef(r), report: readMoveReport(r.raw('report'), 'command.report'), atMs: readAtMs(r) };
    case 'clusterKey':
      return { type, key: readClusterKey(r.raw('key'), 'command.key') };
    case 'producerIds':
      return { type, brokerId: r.int('brokerId', { min: 1, max: brokerLimits.brokerIdMax }), count: r.int('count', { min: 1, max: brokerLimits.producerIdBlockSize }) };
  }
}

function readClusterKey(value: unknown, where: string): Uint8Array {
  if (!(value instanceof Uint8Array) || value.byteLength !== clusterKeyBytes) throw new SkeinError('MALFORMED_REQUEST', { message: `${where} must be ${clusterKeyBytes} bytes` });
  return value;
}

function readPartitionRef(r: BodyReader): { topicId: number; partition: number } {
  return { topicId: r.int('topicId', { min: 1, max: Number.MAX_SAFE_INTEGER }), partition: r.int('partition', { min: 0, max: brokerLimits.partitionsPerTopicMax - 1 }) };
}

function readAtMs(r: BodyReader): number {
  return r.int('atMs', { min: 0, max: Number.MAX_SAFE_INTEGER });
}

/**
 * Validates the controller's snapshot as decoded: it arrives from the
 * metadata leader when this replica is far behind, and restoring a damaged
 * or forged one would stop the replica (or leave a state later code trips
 * on). Counts are bounded by the snapshot's byte size (raftLimits.snapshotBytesMax).
 */
export function readMetadataSnapshot(value: unknown): MetadataSnapshot {
  const r = new BodyReader(value, 'metadata snapshot');
  const brokers = r.list('brokers', { lengthMax: brokerLimits.brokerIdMax }, readBrokerRecord)!;
  if (new Set(brokers.map((b) => b.id)).size !== brokers.length) throw new SkeinError('MALFORMED_REQUEST', { message: 'metadata snapshot lists a broker twice' });
  const topics = r.list('topics', { lengthMax: brokerLimits.topicsMax }, readTopicRecord)!;
  if (new Set(topics.map((t) => t.name)).size !== topics.length || new Set(topics.map((t) => t.topicId)).size !== topics.length) {
    throw new SkeinError('MALFORMED_REQUEST', { message: 'metadata snapshot holds a topic twice' });
  }
  const nextTopicId = r.int('nextTopicId', { min: 1, max: Number.MAX_SAFE_INTEGER });
  if (topics.some((t) => t.topicId >= nextTopicId)) throw new SkeinError('MALFORMED_REQUEST', { message: 'metadata snapshot holds a topic id it has not issued' });
  const nextMoveId = r.has('nextMoveId') ? r.int('nextMoveId', { min: 1, max: Number.MAX_SAFE_INTEGER }) : 1;
  const moveIds = topics.flatMap((t) => t.partitions.flatMap((p) => (p.move === undefined ? [] : [p.move.moveId])));
  if (new Set(moveIds).size !== moveIds.length || moveIds.some((id) => id >= nextMoveId)) throw new SkeinError('MALFORMED_REQUEST', { message: 'metadata snapshot holds a move id twice or one it has not issued' });
  const moveHistory = r.list('moveHistory', { lengthMax: clusterLimits.moveOutcomesKeptMax, optional: true }, readMoveOutcome) ?? [];
  const snapshot: MetadataSnapshot = { clusterId: r.string('clusterId', { bytesMax: brokerLimits.metadataStringBytesMax }), nextTopicId, brokers, topics, nextMoveId, moveHistory };
  // Producer ids come with the key (snapshots of earlier versions have neither).
  if (r.has('clusterKey')) {
    snapshot.clusterKey = readClusterKey(r.raw('clusterKey'), 'metadata snapshot.clusterKey');
    snapshot.nextProducerId = r.int('nextProducerId', { min: 0, max: Number.MAX_SAFE_INTEGER });
  }
  return snapshot;
}

function readTopicRecord(value: unknown, where: string): TopicRecord {
  const r = new BodyReader(value, where);
  const name = r.string('name', { bytesMax: brokerLimits.topicNameBytesMax });
  const problem = topicNameProblem(name);
  if (problem !== null) throw new SkeinError('MALFORMED_REQUEST', { message: `${where}: ${problem}` });
  const partitions = r.list('partitions', { lengthMax: brokerLimits.partitionsPerTopicMax }, (entry, at): PartitionRecord => {
    const p = new BodyReader(entry, at);
    const record: PartitionRecord = { partition: p.int('partition', { min: 0, max: brokerLimits.partitionsPerTopicMax - 1 }), replicas: readReplicaList(p.raw('replicas'), `${at}.replicas`), leader: readLeader(p), leaderEpoch: p.int('leaderEpoch', { min: 0, max: Number.MAX_SAFE_INTEGER }) };
    if (p.has('move')) record.move = readMoveRecord(p.raw('move'), `${at}.move`);
    if (p.bool('moved', false)) record.moved = true;
    return record;
  })!;
  if (partitions.length === 0 || partitions.some((p, i) => p.partition !== i)) throw new SkeinError('MALFORMED_REQUEST', { message: `${where}.partitions must be numbered 0, 1, 2, ...` });
  return {
    name,
    topicId: r.int('topicId', { min: 1, max: Number.MAX_SAFE_INTEGER }),
    replicationFactor: r.int('replicationFactor', { min: 1, max: brokerLimits.replicationFactorMax }),
    config: completeConfig(readTopicConfig(r.raw('config'))),
    partitions,
  };
}

function readBroker(value: unknown, where: string): { id: number; host: string; port: number } {
  const b = new BodyReader(value, where);
  // Port 0 is what a broker with an ephemeral --listen and no --advertise knows of itself; config allows it.
  return { id: b.int('id', { min: 1, max: brokerLimits.brokerIdMax }), host: b.string('host', { bytesMax: brokerLimits.metadataStringBytesMax }), port: b.int('port', { min: 0, max: 65_535 }) };
}

/** A broker in a snapshot: its lifecycle fields are absent in snapshots written before brokers could join. */
function readBrokerRecord(value: unknown, where: string): BrokerRecord {
  const record: BrokerRecord = readBroker(value, where);
  const b = new BodyReader(value, where);
  if (b.has('state')) record.state = b.oneOf('state', brokerStates);
  if (b.raw('storageId') !== undefined) record.storageId = b.raw('storageId') === null ? null : readStorageId(b);
  return record;
}

function readStorageId(r: BodyReader): string {
  const id = r.string('storageId', { bytesMax: 32 });
  if (!/^[0-9a-f]{32}$/.test(id)) throw new SkeinError('MALFORMED_REQUEST', { message: 'a storage id is 32 hex digits' });
  return id;
}

function readLeader(r: BodyReader): number | null {
  return r.raw('leader') === null ? null : r.int('leader', { min: 1, max: brokerLimits.brokerIdMax });
}

function readMoveOutcome(value: unknown, where: string): MoveOutcomeRecord {
  const r = new BodyReader(value, where);
  return {
    moveId: r.int('moveId', { min: 1, max: Number.MAX_SAFE_INTEGER }),
    topic: r.string('topic', { bytesMax: brokerLimits.topicNameBytesMax }),
    partition: r.int('partition', { min: 0, max: brokerLimits.partitionsPerTopicMax - 1 }),
    outcome: r.oneOf('outcome', ['done', 'cancelled', 'dropped']),
    original: readReplicaList(r.raw('original'), `${where}.original`),
    target: readReplicaList(r.raw('target'), `${where}.target`),
    cancelReason: r.raw('cancelReason') === null ? null : r.string('cancelReason', { bytesMax: brokerLimits.metadataStringBytesMax }),
    finishedAtMs: r.int('finishedAtMs', { min: 0, max: Number.MAX_SAFE_INTEGER }),
  };
}

function completeConfig(config: Partial<TopicConfig>): TopicConfig {
  const { retentionMs, retentionBytes, segmentBytes, flush } = config;
  if (retentionMs === undefined || retentionBytes === undefined || segmentBytes === undefined || flush === undefined) {
    throw new SkeinError('MALFORMED_REQUEST', { message: 'a createTopic command carries the complete topic config' });
  }
  return { retentionMs, retentionBytes, segmentBytes, flush };
}
