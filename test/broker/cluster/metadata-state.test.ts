import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeCommand, decodeMetadata, encodeCommand, encodeMetadata, readCommand, readMetadataSnapshot } from '../../../broker/cluster/commands.js';
import { isSkeinError } from '../../../transport/errors.js';
import { MetadataState } from '../../../broker/cluster/metadata-state.js';
import { brokerLimits } from '../../../transport/limits.js';
import type { TopicConfig } from '../../../transport/protocol/messages.js';

const config: TopicConfig = { retentionMs: null, retentionBytes: null, segmentBytes: 1 << 20, flush: { mode: 'always' } };
const brokers = [
  { id: 1, host: '127.0.0.1', port: 9092 },
  { id: 2, host: '127.0.0.1', port: 9093 },
];

describe('MetadataState', () => {
  it('creates topics with increasing ids and refuses duplicates without changing anything', () => {
    const state = new MetadataState('c1', brokers);
    const first = state.apply({ type: 'createTopic', name: 'a', config, assignment: [[1, 2]] });
    expect(first).toMatchObject({ ok: true, topic: { name: 'a', topicId: 1 } });
    const before = state.snapshot();
    const again = state.apply({ type: 'createTopic', name: 'a', config, assignment: [[2, 1]] });
    expect(again).toMatchObject({ ok: false, error: { code: 'TOPIC_EXISTS' } });
    expect(state.snapshot()).toEqual(before);
    expect(state.apply({ type: 'createTopic', name: 'b', config, assignment: [[1]] })).toMatchObject({ ok: true, topic: { topicId: 2 } });
  });

  it('refuses assignments to unknown brokers', () => {
    const state = new MetadataState('c1', brokers);
    expect(state.apply({ type: 'createTopic', name: 'a', config, assignment: [[1, 9]] })).toMatchObject({
      ok: false,
      error: { code: 'INVALID_REPLICATION_FACTOR' },
    });
    expect(state.topicList()).toEqual([]);
  });

  it('takes only newer leadership news', () => {
    const state = new MetadataState('c1', brokers);
    state.apply({ type: 'createTopic', name: 'a', config, assignment: [[1, 2]] });
    state.apply({ type: 'partitionLeader', topicId: 1, partition: 0, leader: 2, leaderEpoch: 5 });
    state.apply({ type: 'partitionLeader', topicId: 1, partition: 0, leader: 1, leaderEpoch: 4 });
    state.apply({ type: 'partitionLeader', topicId: 1, partition: 0, leader: 1, leaderEpoch: 5 });
    expect(state.topic('a')!.partitions[0]).toMatchObject({ leader: 2, leaderEpoch: 5 });
    state.apply({ type: 'partitionLeader', topicId: 1, partition: 0, leader: 1, leaderEpoch: 6 });
    expect(state.topic('a')!.partitions[0]).toMatchObject({ leader: 1, leaderEpoch: 6 });
    expect(state.apply({ type: 'partitionLeader', topicId: 7, partition: 0, leader: 1, leaderEpoch: 9 })).toMatchObject({ ok: false });
    // A leader that is not a replica (a forged report) changes nothing, however new its epoch.
    const before = state.snapshot();
    expect(state.apply({ type: 'partitionLeader', topicId: 1, partition: 0, leader: 3, leaderEpoch: Number.MAX_SAFE_INTEGER })).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
    expect(state.snapshot()).toEqual(before);
  });

  it('reads commands strictly: duplicate or out-of-range replica ids are malformed', () => {
    const command = (assignment: unknown): unknown => ({ type: 'createTopic', name: 'a', assignment, config });
    expect(readCommand(command([[1, 2]]))).toMatchObject({ assignment: [[1, 2]] });
    expect(() => readCommand(command([[1, 1]]))).toThrow(expect.objectContaining({ code: 'MALFORMED_REQUEST' }));
    expect(() => readCommand(command([[1, brokerLimits.brokerIdMax + 1]]))).toThrow(expect.objectContaining({ code: 'MALFORMED_REQUEST' }));
    expect(readCommand(command([[brokerLimits.brokerIdMax]]))).toMatchObject({ assignment: [[brokerLimits.brokerIdMax]] });
    // Bytes from the log or a peer: tags are refused before cbor-x builds anything from them.
    const tagged = Uint8Array.from([0xd8, 0x1b, 0x82, 0x65, ...Buffer.from('Error'), 0x64, ...Buffer.from('boom')]);
    expect(() => decodeCommand(tagged)).toThrow(expect.objectContaining({ code: 'MALFORMED_REQUEST', message: expect.stringMatching(/not plain CBOR/) }));
    expect(decodeCommand(encodeCommand({ type: 'deleteTopic', name: 'a' }))).toEqual({ type: 'deleteTopic', name: 'a' });
  });

  it('round-trips through a snapshot and deletes topics', () => {
    const state = new MetadataState('c1', brokers);
    state.apply({ type: 'createTopic', name: 'a', config, assignment: [[1, 2], [2, 1]] });
    state.apply({ type: 'registerBroker', broker: { id: 3, host: 'h', port: 1 } });
    const copy = MetadataState.fromSnapshot(state.snapshot());
    expect(copy.snapshot()).toEqual(state.snapshot());
    expect(copy.load().get(1)).toEqual({ replicas: 2, leaders: 1 });
    expect(copy.apply({ type: 'deleteTopic', name: 'a' })).toEqual({ ok: true });
    expect(copy.topicById(1)).toBeUndefined();
    expect(state.topic('a')).toBeDefined();
    expect(copy.apply({ type: 'deleteTopic', name: 'a' })).toMatchObject({ ok: false, error: { code: 'UNKNOWN_TOPIC' } });
  });

  it('reads a snapshot back only if it is whole: a damaged or forged one is MALFORMED, never a state', () => {
    const state = new MetadataState('c1', brokers);
    state.apply({ type: 'createTopic', name: 'a', config, assignment: [[1, 2], [2, 1]] });
    state.apply({ type: 'partitionLeader', topicId: 1, partition: 1, leader: 2, leaderEpoch: 3 });
    const good = state.snapshot();
    expect(readMetadataSnapshot(decodeMetadata(encodeMetadata(good), 'snapshot'))).toEqual(good);
    // Whatever a broker's config accepts reads back too: an ephemeral port (0) and a 255-byte cluster id.
    const ephemeral = new MetadataState('c'.repeat(255), [{ id: 1, host: 'h'.repeat(255), port: 0 }]).snapshot();
    expect(readMetadataSnapshot(decodeMetadata(encodeMetadata(ephemeral), 'snapshot'))).toEqual(ephemeral);
    const topic = good.topics[0]!;
    const bad: unknown[] = [
      null,
      [],
      { ...good, brokers: 'x' },
      { ...good, brokers: [...good.brokers, good.brokers[0]] },
      { ...good, nextTopicId: 1 },
      { ...good, topics: [topic, topic] },
      { ...good, topics: [{ ...topic, name: '../etc' }] },
      { ...good, topics: [{ ...topic, partitions: [] }] },
      { ...good, topics: [{ ...topic, partitions: [topic.partitions[1]] }] },
      { ...good, topics: [{ ...topic, partitions: [{ ...topic.partitions[0], replicas: [1, 1] }, topic.partitions[1]] }] },
      { ...good, topics: [{ ...topic, config: { ...topic.config, flush: { mode: 'sometimes' } } }] },
      { ...good, topics: [{ ...topic, partitions: [{ ...topic.partitions[0], leaderEpoch: -1 }, topic.partitions[1]] }] },
    ];
    for (const value of bad) {
      let error: unknown = null;
      try {
        readMetadataSnapshot(value);
      } catch (e) {
        error = e;
      }
      expect(isSkeinError(error), JSON.stringify(value)?.slice(0, 120)).toBe(true);
    }
    // Whatever a byte string holds, reading it either yields a snapshot or throws a typed error.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          readMetadataSnapshot(decodeMetadata(bytes, 'snapshot'));
        } catch (e) {
          expect(isSkeinError(e)).toBe(true);
        }
      }),
    );
  });

  it('hands out producer ids in blocks that never overlap, only once the cluster has its key, the first key proposed winning', () => {
    const state = new MetadataState('c1', brokers);
    expect(state.apply({ type: 'producerIds', brokerId: 1, count: 10 })).toMatchObject({ ok: false });
    const key = new Uint8Array(32).fill(1);
    expect(state.apply({ type: 'clusterKey', key })).toEqual({ ok: true });
    // A second controller raced the first (both found no key): its key changes nothing.
    expect(state.apply({ type: 'clusterKey', key: new Uint8Array(32).fill(2) })).toEqual({ ok: true });
    expect(state.clusterKey).toEqual(key);
    expect(state.apply({ type: 'producerIds', brokerId: 1, count: 10 })).toEqual({ ok: true, producerIds: { first: 0, count: 10 } });
    expect(state.apply({ type: 'producerIds', brokerId: 2, count: 5 })).toEqual({ ok: true, producerIds: { first: 10, count: 5 } });
    // Restored from its snapshot (a restart, a lagging replica), the state goes on where it was: no id is issued twice.
    const restored = MetadataState.fromSnapshot(readMetadataSnapshot(decodeMetadata(encodeMetadata(state.snapshot()), 'snapshot')));
    expect(restored.clusterKey).toEqual(key);
    expect(restored.apply({ type: 'producerIds', brokerId: 1, count: 1 })).toEqual({ ok: true, producerIds: { first: 15, count: 1 } });
    // Commands from the log are read strictly; a snapshot of an earlier version (no key) reads as a cluster that issued none.
    expect(() => readCommand({ type: 'clusterKey', key: new Uint8Array(31) })).toThrow(expect.objectContaining({ code: 'MALFORMED_REQUEST' }));
    expect(() => readCommand({ type: 'producerIds', brokerId: 1, count: brokerLimits.producerIdBlockSize + 1 })).toThrow(expect.objectContaining({ code: 'MALFORMED_REQUEST' }));
    expect(readCommand({ type: 'producerIds', brokerId: 1, count: brokerLimits.producerIdBlockSize })).toMatchObject({ count: brokerLimits.producerIdBlockSize });
    const { clusterKey: _key, nextProducerId: _next, ...earlier } = state.snapshot();
    const old = MetadataState.fromSnapshot(readMetadataSnapshot(earlier));
    expect([old.clusterKey, old.producerIdsIssued]).toEqual([null, 0]);
    expect(() => readMetadataSnapshot({ ...state.snapshot(), clusterKey: new Uint8Array(8) })).toThrow(expect.objectContaining({ code: 'MALFORMED_REQUEST' }));
  });
});
