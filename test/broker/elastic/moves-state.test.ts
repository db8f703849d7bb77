import { describe, expect, it } from 'vitest';
import { decodeCommand, decodeMetadata, encodeCommand, encodeMetadata, readMetadataSnapshot } from '../../../broker/cluster/commands.js';
import { assignedTo } from '../../../broker/cluster/assigned.js';
import { MetadataState, metadataLimits, type MetadataCommand } from '../../../broker/cluster/metadata-state.js';
import type { TopicConfig } from '../../../transport/protocol/messages.js';

/** Moves as the metadata records them: every command applied, refused ones changing nothing, and what each broker hosts. */
const config: TopicConfig = { retentionMs: null, retentionBytes: null, segmentBytes: 1 << 20, flush: { mode: 'always' } };
const brokers = [1, 2, 3, 4].map((id) => ({ id, host: 'h', port: id }));

function cluster(limits = metadataLimits): MetadataState {
  const state = new MetadataState('c', brokers, limits);
  state.apply({ type: 'createTopic', name: 't', config, assignment: [[1, 2, 3], [2, 3, 1]] });
  return state;
}

function apply(state: MetadataState, command: MetadataCommand) {
  // Every command goes through the codec, as from the log.
  return state.apply(decodeCommand(encodeCommand(command)));
}

describe('moves in the metadata', () => {
  it('a move is queued, admitted, reported joint and done: replicas change, the history says so, and hosting follows', () => {
    const state = cluster();
    expect(apply(state, { type: 'reassignPartition', topicId: 1, partition: 0, target: [4, 2, 3], reason: 'operator', atMs: 10 })).toEqual({ ok: true, moveId: 1 });
    expect(state.moves().map((m) => m.move.phase)).toEqual(['queued']);
    // Queued: broker 4 hosts nothing yet.
    expect([...assignedTo(state, 4).keys()]).toEqual([]);
    apply(state, { type: 'startMoves', moves: [{ topicId: 1, partition: 0, moveId: 1 }], atMs: 11 });
    expect(assignedTo(state, 4).get('p:1:0')).toMatchObject({ replicas: [4, 2, 3], bootstrap: false, moving: true });
    expect(assignedTo(state, 1).get('p:1:0')).toMatchObject({ bootstrap: true });
    // A report about another move, or out of order, is stale.
    expect(apply(state, { type: 'moveReport', topicId: 1, partition: 0, report: { moveId: 9, to: 'done' }, atMs: 12 })).toEqual({ ok: true });
    expect(state.moves()).toHaveLength(1);
    apply(state, { type: 'moveReport', topicId: 1, partition: 0, report: { moveId: 1, to: 'joint' }, atMs: 12 });
    expect(apply(state, { type: 'cancelMove', topicId: 1, partition: 0, reason: 'operator', atMs: 13 })).toMatchObject({ ok: false, error: { code: 'REASSIGNMENT_NOT_CANCELLABLE' } });
    // A new voter may report leadership once the move is admitted.
    expect(apply(state, { type: 'partitionLeader', topicId: 1, partition: 0, leader: 4, leaderEpoch: 7 })).toEqual({ ok: true });
    apply(state, { type: 'moveReport', topicId: 1, partition: 0, report: { moveId: 1, to: 'done' }, atMs: 14 });
    expect(state.topic('t')!.partitions[0]).toMatchObject({ replicas: [4, 2, 3], moved: true });
    expect(state.moves()).toEqual([]);
    expect(state.finishedMoves()).toEqual([{ moveId: 1, topic: 't', partition: 0, outcome: 'done', original: [1, 2, 3], target: [4, 2, 3], cancelReason: null, finishedAtMs: 14 }]);
    expect(assignedTo(state, 1).has('p:1:0')).toBe(false);
    // Moved once: no replica bootstraps it again (they would write another first entry).
    expect(assignedTo(state, 2).get('p:1:0')).toMatchObject({ bootstrap: false });
    const restored = MetadataState.fromSnapshot(readMetadataSnapshot(decodeMetadata(encodeMetadata(state.snapshot()), 's')));
    expect(restored.snapshot()).toEqual(state.snapshot());
  });

  it('refusals change nothing: unknown broker, inactive broker, duplicates, unchanged, a second move, no move to cancel, pending limit', () => {
    const state = cluster({ ...metadataLimits, movesPendingMax: 1 });
    state.apply({ type: 'registerBroker', broker: { id: 5, host: 'h', port: 5 }, storageId: 'e'.repeat(32) });
    const before = state.snapshot();
    const move = (target: number[], partition = 0) => apply(state, { type: 'reassignPartition', topicId: 1, partition, target, reason: 'operator', atMs: 1 });
    expect(move([1, 2, 9])).toMatchObject({ ok: false, error: { code: 'UNKNOWN_BROKER' } });
    expect(move([1, 2, 5])).toMatchObject({ ok: false, error: { code: 'INVALID_BROKER_STATE' } });
    expect(move([1, 2, 3])).toMatchObject({ ok: false, error: { code: 'INVALID_REPLICA_ASSIGNMENT' } });
    expect(apply(state, { type: 'cancelMove', topicId: 1, partition: 0, reason: 'operator', atMs: 1 })).toMatchObject({ ok: false, error: { code: 'NO_REASSIGNMENT_IN_PROGRESS' } });
    expect(state.snapshot()).toEqual(before);
    expect(move([4, 2, 3])).toMatchObject({ ok: true, moveId: 1 });
    const one = state.snapshot();
    expect(move([4, 1, 3])).toMatchObject({ ok: false, error: { code: 'REASSIGNMENT_IN_PROGRESS' } });
    // The limit at its edge: one move held, the next refused.
    expect(move([4, 2, 1], 1)).toMatchObject({ ok: false, error: { code: 'BACKPRESSURE' } });
    expect(state.snapshot()).toEqual(one);
  });

  it('a queued move cancels at once; an admitted one records the reason and ends when its leader reports it; deleting the topic drops moves', () => {
    const state = cluster();
    apply(state, { type: 'reassignPartition', topicId: 1, partition: 0, target: [4, 2, 3], reason: 'operator', atMs: 1 });
    expect(apply(state, { type: 'cancelMove', topicId: 1, partition: 0, reason: 'operator', atMs: 2 })).toEqual({ ok: true, moveId: 1, outcome: 'cancelled' });
    apply(state, { type: 'reassignPartition', topicId: 1, partition: 1, target: [4, 3, 1], reason: 'operator', atMs: 3 });
    apply(state, { type: 'startMoves', moves: [{ topicId: 1, partition: 1, moveId: 2 }], atMs: 4 });
    expect(apply(state, { type: 'cancelMove', topicId: 1, partition: 1, reason: 'operator', atMs: 5 })).toEqual({ ok: true, moveId: 2, outcome: 'cancelling' });
    apply(state, { type: 'moveReport', topicId: 1, partition: 1, report: { moveId: 2, to: 'cancelled' }, atMs: 6 });
    expect(state.topic('t')!.partitions.map((p) => p.replicas)).toEqual([[1, 2, 3], [2, 3, 1]]);
    apply(state, { type: 'reassignPartition', topicId: 1, partition: 0, target: [4, 2, 3], reason: 'operator', atMs: 7 });
    apply(state, { type: 'deleteTopic', name: 't' });
    expect(state.moves()).toEqual([]);
    expect(state.finishedMoves().map((m) => [m.moveId, m.outcome])).toEqual([[3, 'dropped'], [2, 'cancelled'], [1, 'cancelled']]);
  });

  it('snapshots with a damaged move or a move id not yet issued are refused', () => {
    const state = cluster();
    apply(state, { type: 'reassignPartition', topicId: 1, partition: 0, target: [4, 2, 3], reason: 'operator', atMs: 1 });
    const good = state.snapshot();
    expect(() => readMetadataSnapshot({ ...good, nextMoveId: 1 })).toThrow(/move id/);
    const topic = good.topics[0]!;
    const damaged = { ...good, topics: [{ ...topic, partitions: [{ ...topic.partitions[0], move: { ...topic.partitions[0]!.move, phase: 'flying' } }, topic.partitions[1]] }] };
    expect(() => readMetadataSnapshot(damaged)).toThrow(/phase/);
  });
});
