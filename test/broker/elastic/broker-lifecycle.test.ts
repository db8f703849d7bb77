import { describe, expect, it } from 'vitest';
import { decodeCommand, decodeMetadata, encodeCommand, encodeMetadata, readMetadataSnapshot } from '../../../broker/cluster/commands.js';
import { stepMembership, voterChange, type MetadataGroupView } from '../../../broker/cluster/core/membership.js';
import { MetadataState, metadataLimits } from '../../../broker/cluster/metadata-state.js';
import { raftFromOtherStorage } from '../../../broker/cluster/storage-identity.js';
import { clusterLimits } from '../../../transport/limits.js';

/** Brokers joining the metadata: registration, storage identity, activation, and the metadata group's membership. */
const founders = [
  { id: 1, host: 'h', port: 1 },
  { id: 2, host: 'h', port: 2 },
  { id: 3, host: 'h', port: 3 },
];
const storageA = 'a'.repeat(32);
const storageB = 'b'.repeat(32);
const four = { id: 4, host: 'h', port: 4 };

describe('broker lifecycle in the metadata', () => {
  it('a new id joins as joining and is activated; founders start active and claim their id once', () => {
    const state = new MetadataState('c', founders);
    expect(state.lifecycle(1)).toEqual({ state: 'active', storageId: null });
    expect(state.apply({ type: 'registerBroker', broker: founders[0]!, storageId: storageA })).toEqual({ ok: true });
    expect(state.lifecycle(1)).toEqual({ state: 'active', storageId: storageA });
    expect(state.apply({ type: 'registerBroker', broker: four, storageId: storageB })).toEqual({ ok: true });
    expect(state.lifecycle(4)).toEqual({ state: 'joining', storageId: storageB });
    expect(state.activeBrokerIds()).toEqual([1, 2, 3]);
    expect(state.apply({ type: 'activateBroker', id: 4 })).toEqual({ ok: true });
    expect(state.activeBrokerIds()).toEqual([1, 2, 3, 4]);
    // A repeated registration (a restart) keeps the state and moves the address.
    expect(state.apply({ type: 'registerBroker', broker: { ...four, port: 44 }, storageId: storageB })).toEqual({ ok: true });
    expect(state.lifecycle(4)?.state).toBe('active');
    expect(state.broker(4)?.port).toBe(44);
  });

  it('Raft traffic is refused only from a directory other than the one the metadata ties the id to', () => {
    expect(raftFromOtherStorage(storageA, storageB)).toBe(true);
    expect(raftFromOtherStorage(storageA, storageA)).toBe(false);
    // Not known yet (a founding directory not registered, an id the metadata has not heard of), or a sender from before storage ids.
    expect(raftFromOtherStorage(null, storageB)).toBe(false);
    expect(raftFromOtherStorage(undefined, storageB)).toBe(false);
    expect(raftFromOtherStorage(storageA, undefined)).toBe(false);
  });

  it('an id held by another data directory is refused and changes nothing', () => {
    const state = new MetadataState('c', founders);
    state.apply({ type: 'registerBroker', broker: founders[1]!, storageId: storageA });
    const before = state.snapshot();
    expect(state.apply({ type: 'registerBroker', broker: { ...founders[1]!, port: 99 }, storageId: storageB })).toMatchObject({ ok: false, error: { code: 'BROKER_ID_IN_USE' } });
    expect(state.snapshot()).toEqual(before);
  });

  it('joins stop at brokersMax: the last fits, the next is CLUSTER_FULL, a known id still re-registers', () => {
    const state = new MetadataState('c', founders, { ...metadataLimits, brokersMax: 4 });
    expect(state.apply({ type: 'registerBroker', broker: four, storageId: storageA })).toEqual({ ok: true });
    const before = state.snapshot();
    expect(state.apply({ type: 'registerBroker', broker: { id: 5, host: 'h', port: 5 }, storageId: storageB })).toMatchObject({ ok: false, error: { code: 'CLUSTER_FULL' } });
    expect(state.snapshot()).toEqual(before);
    expect(state.apply({ type: 'registerBroker', broker: four, storageId: storageA })).toEqual({ ok: true });
  });

  it('activating an unknown broker is UNKNOWN_BROKER', () => {
    expect(new MetadataState('c', founders).apply({ type: 'activateBroker', id: 9 })).toMatchObject({ ok: false, error: { code: 'UNKNOWN_BROKER' } });
  });

  it('states and storage ids survive the snapshot and the command codec; old snapshots without them read as active', () => {
    const state = new MetadataState('c', founders);
    state.apply({ type: 'registerBroker', broker: four, storageId: storageA });
    const restored = MetadataState.fromSnapshot(readMetadataSnapshot(decodeMetadata(encodeMetadata(state.snapshot()), 's')));
    expect(restored.snapshot()).toEqual(state.snapshot());
    const old = readMetadataSnapshot({ clusterId: 'c', nextTopicId: 1, brokers: founders, topics: [] });
    expect(MetadataState.fromSnapshot(old).lifecycle(2)).toEqual({ state: 'active', storageId: null });
    expect(() => readMetadataSnapshot({ clusterId: 'c', nextTopicId: 1, brokers: [{ ...four, state: 'lost' }], topics: [] })).toThrow(/state/);
    expect(() => readMetadataSnapshot({ clusterId: 'c', nextTopicId: 1, brokers: [{ ...four, storageId: 'xyz' }], topics: [] })).toThrow(/storage id/);
    expect(decodeCommand(encodeCommand({ type: 'registerBroker', broker: four, storageId: storageA }))).toEqual({ type: 'registerBroker', broker: four, storageId: storageA });
    // Commands logged before storage ids existed.
    expect(decodeCommand(encodeMetadata({ type: 'registerBroker', broker: four }))).toEqual({ type: 'registerBroker', broker: four, storageId: null });
    expect(decodeCommand(encodeCommand({ type: 'activateBroker', id: 4 }))).toEqual({ type: 'activateBroker', id: 4 });
  });
});

describe('the metadata group follows the registered brokers', () => {
  const config = { voters: [1, 2, 3], votersOutgoing: [], learners: [] as number[], learnersNext: [] };
  const view = (over: Partial<MetadataGroupView> = {}): MetadataGroupView => ({ config, configCommitted: true, lastIndex: 100, progress: new Map(), ...over });
  const brokers = [
    { id: 1, state: 'active' as const },
    { id: 2, state: 'active' as const },
    { id: 3, state: 'active' as const },
    { id: 4, state: 'joining' as const },
    { id: 5, state: 'joining' as const },
  ];

  it('adds every registered non-member as a learner in one change, and waits while a change is in flight', () => {
    expect(stepMembership(brokers, view())).toMatchObject({ type: 'propose', changes: [{ type: 'addLearner', node: 4 }, { type: 'addLearner', node: 5 }] });
    expect(stepMembership(brokers, view({ configCommitted: false }))).toEqual({ type: 'wait' });
    expect(stepMembership(brokers, view({ config: { ...config, votersOutgoing: [1, 2, 3] } }))).toEqual({ type: 'wait' });
  });

  it('activates a joining learner once it is within one pipelining window and heard from, not before', () => {
    const learners = { ...config, learners: [4, 5] };
    const edge = 100 - clusterLimits.caughtUpEntriesBehindMax;
    expect(stepMembership(brokers, view({ config: learners, progress: new Map([[4, { match: edge - 1, heardAgoMs: 0 }]]) }))).toEqual({ type: 'wait' });
    expect(stepMembership(brokers, view({ config: learners, progress: new Map([[4, { match: edge, heardAgoMs: clusterLimits.caughtUpHeardWithinMs + 1 }]]) }))).toEqual({ type: 'wait' });
    expect(stepMembership(brokers, view({ config: learners, progress: new Map([[4, { match: edge, heardAgoMs: clusterLimits.caughtUpHeardWithinMs }]]) }))).toEqual({ type: 'activate', id: 4 });
  });

  it('removes gone brokers that are learners, never voters', () => {
    const gone = [...brokers.slice(0, 3), { id: 4, state: 'gone' as const }];
    expect(stepMembership(gone, view({ config: { ...config, learners: [4] } }))).toMatchObject({ type: 'propose', changes: [{ type: 'remove', node: 4 }] });
    expect(stepMembership([{ id: 1, state: 'gone' as const }, ...brokers.slice(1, 3)], view())).toEqual({ type: 'wait' });
  });
});

describe('decommission, recommission, gone', () => {
  it('follow their states; refusals change nothing; a gone id never comes back', () => {
    const state = new MetadataState('c', founders);
    state.apply({ type: 'registerBroker', broker: four, storageId: storageA });
    const before = state.snapshot();
    expect(state.apply({ type: 'decommissionBroker', id: 4 })).toMatchObject({ ok: false, error: { code: 'INVALID_BROKER_STATE' } });
    expect(state.apply({ type: 'recommissionBroker', id: 1 })).toMatchObject({ ok: false, error: { code: 'INVALID_BROKER_STATE' } });
    expect(state.apply({ type: 'brokerGone', id: 1 })).toMatchObject({ ok: false, error: { code: 'INVALID_BROKER_STATE' } });
    expect(state.apply({ type: 'decommissionBroker', id: 9 })).toMatchObject({ ok: false, error: { code: 'UNKNOWN_BROKER' } });
    expect(state.snapshot()).toEqual(before);
    state.apply({ type: 'activateBroker', id: 4 });
    state.apply({ type: 'createTopic', name: 't', config: { retentionMs: null, retentionBytes: null, segmentBytes: 1 << 20, flush: { mode: 'always' } }, assignment: [[4, 1]] });
    expect(state.apply({ type: 'decommissionBroker', id: 4 })).toEqual({ ok: true });
    expect(state.apply({ type: 'decommissionBroker', id: 4 })).toEqual({ ok: true });
    expect(state.activeBrokerIds()).toEqual([1, 2, 3]);
    // Still holding a replica: not gone yet.
    expect(state.apply({ type: 'brokerGone', id: 4 })).toMatchObject({ ok: false, error: { code: 'INVALID_BROKER_STATE', message: expect.stringContaining('still holds') } });
    expect(state.apply({ type: 'recommissionBroker', id: 4 })).toEqual({ ok: true });
    state.apply({ type: 'decommissionBroker', id: 4 });
    state.apply({ type: 'deleteTopic', name: 't' });
    expect(state.apply({ type: 'brokerGone', id: 4 })).toEqual({ ok: true });
    expect(state.lifecycle(4)?.state).toBe('gone');
    expect(state.apply({ type: 'recommissionBroker', id: 4 })).toMatchObject({ ok: false, error: { code: 'INVALID_BROKER_STATE' } });
    expect(state.apply({ type: 'registerBroker', broker: four, storageId: storageA })).toMatchObject({ ok: false, error: { code: 'BROKER_ID_IN_USE' } });
    expect(decodeCommand(encodeCommand({ type: 'brokerGone', id: 4 }))).toEqual({ type: 'brokerGone', id: 4 });
  });
});

describe('voter changes of the metadata group', () => {
  const states = new Map([[1, 'active' as const], [2, 'active' as const], [3, 'active' as const], [4, 'active' as const], [5, 'joining' as const]]);
  const group = (voters: number[], learners: number[], over: Partial<MetadataGroupView> = {}): MetadataGroupView => ({
    config: { voters, votersOutgoing: [], learners, learnersNext: [] },
    configCommitted: true,
    lastIndex: 100,
    progress: new Map(learners.map((id) => [id, { match: 100, heardAgoMs: 0 }])),
    ...over,
  });
  it('adds only a caught-up active learner, up to votersMax; demotes a voter to learner, never the last', () => {
    expect(voterChange({ add: 4 }, states, group([1, 2, 3], [4]))).toEqual({ changes: [{ type: 'addVoter', node: 4 }] });
    expect(voterChange({ add: 4 }, states, group([1, 2, 3], [4], { progress: new Map([[4, { match: 100 - clusterLimits.caughtUpEntriesBehindMax - 1, heardAgoMs: 0 }]]) }))).toMatchObject({ error: { code: 'RECONFIGURATION_IN_PROGRESS' } });
    expect(voterChange({ add: 5 }, states, group([1, 2, 3], [5]))).toMatchObject({ error: { code: 'INVALID_BROKER_STATE' } });
    expect(voterChange({ add: 4 }, states, group([1, 2, 3], [4]), { entriesBehindMax: 64, heardWithinMs: 1000, votersMax: 3 })).toMatchObject({ error: { code: 'INVALID_VOTER_CHANGE' } });
    expect(voterChange({ add: 9 }, states, group([1, 2, 3], []))).toMatchObject({ error: { code: 'UNKNOWN_BROKER' } });
    expect(voterChange({ remove: 2 }, states, group([1, 2, 3], []))).toEqual({ changes: [{ type: 'addLearner', node: 2 }] });
    expect(voterChange({ remove: 1 }, states, group([1], [2]))).toMatchObject({ error: { code: 'INVALID_VOTER_CHANGE', message: expect.stringContaining('needs a voter') } });
    expect(voterChange({ remove: 4 }, states, group([1, 2, 3], [4]))).toMatchObject({ error: { code: 'INVALID_VOTER_CHANGE' } });
    expect(voterChange({ remove: 2 }, states, group([1, 2, 3], [], { configCommitted: false }))).toMatchObject({ error: { code: 'RECONFIGURATION_IN_PROGRESS' } });
  });
});
