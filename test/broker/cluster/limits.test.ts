import { describe, expect, it } from 'vitest';
import { MetadataState, metadataLimits } from '../../../broker/cluster/metadata-state.js';
import { brokerLimits, clusterLimits } from '../../../transport/limits.js';
import { readCreateTopic, type TopicConfig } from '../../../transport/protocol/messages.js';

/** The cluster's limits on topics and partitions, each at its edge: the last that fits is taken, the next refused with LIMIT_EXCEEDED and nothing changed. */
const config: TopicConfig = { retentionMs: null, retentionBytes: null, segmentBytes: 1 << 20, flush: { mode: 'always' } };
const brokers = [1, 2, 3].map((id) => ({ id, host: '127.0.0.1', port: 9000 + id }));
const create = (state: MetadataState, name: string, assignment: number[][]) => state.apply({ type: 'createTopic', name, config, assignment });
const limits = { topicsMax: 3, partitionsMax: 10, partitionReplicasPerBrokerMax: 6, brokersMax: 64, movesPendingMax: 8 };

describe('metadata limits', () => {
  it('are brokerLimits by default', () => {
    expect(metadataLimits).toEqual({ topicsMax: brokerLimits.topicsMax, partitionsMax: brokerLimits.partitionsMax, partitionReplicasPerBrokerMax: brokerLimits.partitionReplicasPerBrokerMax, brokersMax: clusterLimits.brokersMax, movesPendingMax: clusterLimits.movesPendingMax });
  });

  it('topics in the cluster: the last one fits, the next is refused, and a deletion makes room', () => {
    const state = new MetadataState('c', brokers, limits);
    for (const name of ['a', 'b', 'c']) expect(create(state, name, [[1]])).toMatchObject({ ok: true });
    const before = state.snapshot();
    expect(create(state, 'd', [[1]])).toMatchObject({ ok: false, error: { code: 'LIMIT_EXCEEDED', message: expect.stringContaining('topicsMax 3') } });
    expect(state.snapshot()).toEqual(before);
    state.apply({ type: 'deleteTopic', name: 'a' });
    expect(create(state, 'd', [[1]])).toMatchObject({ ok: true });
  });

  it('partitions in the cluster', () => {
    const state = new MetadataState('c', brokers, { ...limits, partitionReplicasPerBrokerMax: 100 });
    expect(create(state, 'a', Array.from({ length: 6 }, () => [1]))).toMatchObject({ ok: true });
    expect(create(state, 'b', Array.from({ length: 5 }, () => [2]))).toMatchObject({ ok: false, error: { code: 'LIMIT_EXCEEDED', message: expect.stringContaining('partitionsMax 10') } });
    expect(create(state, 'b', Array.from({ length: 4 }, () => [2]))).toMatchObject({ ok: true });
  });

  it('partition replicas per broker, counted over every topic and kept through a snapshot', () => {
    const state = new MetadataState('c', brokers, { ...limits, partitionsMax: 100 });
    expect(create(state, 'a', [[1, 2], [1, 3], [1, 2], [1, 3]])).toMatchObject({ ok: true });
    const restored = MetadataState.fromSnapshot(state.snapshot(), { ...limits, partitionsMax: 100 });
    for (const s of [state, restored]) {
      expect(create(s, 'b', [[1], [1], [1]])).toMatchObject({ ok: false, error: { code: 'LIMIT_EXCEEDED', message: expect.stringContaining('broker 1 would host 7') } });
      expect(create(s, 'b', [[1], [1], [2]])).toMatchObject({ ok: true });
    }
  });

  it('partitions per createTopic request', () => {
    const request = (partitions: number) => () => readCreateTopic({ name: 't', partitions, replicationFactor: 1 });
    expect(request(brokerLimits.partitionsPerTopicMax)).not.toThrow();
    expect(request(brokerLimits.partitionsPerTopicMax + 1)).toThrow(expect.objectContaining({ code: 'INVALID_TOPIC' }));
  });
});
