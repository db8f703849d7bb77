import { describe, expect, it } from 'vitest';
import type { Snapshot } from '../../../broker/raft/core/types.js';
import { TestCluster } from './harness.js';

const bytes = (t: string): Uint8Array => new TextEncoder().encode(t);

/** The leader snapshots at its applied index and drops its whole log before it. */
function compact(c: TestCluster, id: number): Snapshot {
  const meta = c.core(id).appliedSnapshotMeta();
  if (meta === null) throw new Error('no snapshot possible now');
  const snapshot: Snapshot = { meta, data: bytes(`state@${meta.index}`) };
  c.node(id).storage.compact(snapshot, meta.index + 1);
  return snapshot;
}

describe('snapshots', () => {
  it('installs a snapshot on a follower behind the truncated log, then catches it up with entries', () => {
    const c = new TestCluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.propose(1, 'a');
    c.isolate(3);
    for (let i = 0; i < 30; i++) c.propose(1, `e${i}`);
    const snapshot = compact(c, 1);
    expect(c.core(1).status().firstIndex).toBe(snapshot.meta.index + 1);
    c.propose(1, 'after');
    c.heal();
    c.tickAll(3);
    expect(c.core(1).counters.snapshotsSent).toBe(1);
    expect(c.core(3).counters.snapshotsInstalled).toBe(1);
    expect(c.node(3).storage.snapshot()).toEqual(snapshot);
    expect(c.node(3).storage.firstIndex()).toBe(snapshot.meta.index + 1);
    const s3 = c.core(3).status();
    expect(s3.applied).toBe(c.core(1).status().commit);
    expect(c.logOf(3)).toEqual(c.logOf(1));
    expect(c.appliedText(3).at(-1)).toBe('after');
  });

  it('sends a snapshot again when the first one is lost', () => {
    const c = new TestCluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.isolate(3);
    for (let i = 0; i < 5; i++) c.propose(1, `e${i}`);
    compact(c, 1);
    c.heal();
    let lost = 0;
    c.dropIf = (m) => m.type === 'snapshot' && lost++ === 0;
    c.tickAll(30);
    expect(lost).toBe(2);
    expect(c.core(3).counters.snapshotsInstalled).toBe(1);
    expect(c.logOf(3)).toEqual(c.logOf(1));
  });

  it('brings a brand-new member in through a snapshot taken before it joined', () => {
    const c = new TestCluster({ voters: [1, 2, 3], others: [4] });
    c.campaign(1);
    for (let i = 0; i < 5; i++) c.propose(1, `e${i}`);
    const snapshot = compact(c, 1);
    expect(snapshot.meta.config.learners).toEqual([]);
    const r = c.core(1).proposeConfChange([{ type: 'addLearner', node: 4 }]);
    expect(r.ok).toBe(true);
    c.tickAll(5);
    expect(c.core(4).counters.snapshotsInstalled).toBe(1);
    expect(c.core(4).status().config.learners).toEqual([4]);
    expect(c.core(4).status().applied).toBe(c.core(1).status().commit);
  });

  it('ignores a snapshot older than what the follower already committed', () => {
    const c = new TestCluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.propose(1, 'a');
    const old = compact(c, 1);
    c.propose(1, 'b');
    const commit = c.core(2).status().commit;
    c.core(2).step({ type: 'snapshot', from: 1, to: 2, term: c.core(1).status().term, snapshot: old });
    c.stabilize();
    expect(c.core(2).status().commit).toBe(commit);
    expect(c.core(2).counters.snapshotsInstalled).toBe(0);
  });
});

describe('read index', () => {
  it('confirms a leader read with a heartbeat round before answering it', () => {
    const c = new TestCluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.propose(1, 'a');
    const commit = c.core(1).status().commit;
    expect(c.core(1).readIndex('r1').ok).toBe(true);
    const rd = c.core(1).ready();
    // Not yet: first a majority must confirm we still lead.
    expect(rd.readStates).toEqual([]);
    expect(rd.messages.filter((m) => m.type === 'heartbeat' && m.readRound > 0)).toHaveLength(2);
    c.core(1).advance(rd);
    c.queue.push(...rd.messages, ...rd.messagesAfterPersist);
    c.stabilize();
    expect(c.node(1).readStates).toEqual([{ requestId: 'r1', index: commit }]);
  });

  it('never answers a read on a leader cut off from its majority', () => {
    const c = new TestCluster({ voters: [1, 2, 3], tuning: { checkQuorum: false } });
    c.campaign(1);
    c.isolate(1);
    expect(c.core(1).readIndex('stale').ok).toBe(true);
    c.tickAll(50);
    expect(c.core(1).status().role).toBe('leader');
    expect(c.node(1).readStates).toEqual([]);
  });

  it('serves a follower read through the leader, at an index that covers every acknowledged write', () => {
    const c = new TestCluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.propose(1, 'a');
    c.propose(1, 'b');
    expect(c.core(3).readIndex('f1').ok).toBe(true);
    c.stabilize();
    expect(c.node(3).readStates).toEqual([{ requestId: 'f1', index: c.core(1).status().commit }]);
    expect(c.core(3).status().applied).toBeGreaterThanOrEqual(c.node(3).readStates[0]!.index);
  });

  it('makes a new leader commit in its term before it answers, so its commit index is not stale', () => {
    const c = new TestCluster({ voters: [1, 2, 3] });
    c.dropIf = (m) => m.type === 'appendResponse';
    c.campaign(1);
    expect(c.core(1).readIndex('early').ok).toBe(true);
    c.stabilize();
    expect(c.node(1).readStates).toEqual([]);
    c.dropIf = null;
    c.tickAll(2);
    const [state] = c.node(1).readStates;
    expect(state!.index).toBeGreaterThanOrEqual(2); // at least the new leader's no-op
  });

  it('refuses a read when no leader is known', () => {
    const c = new TestCluster({ voters: [1, 2, 3] });
    const r = c.core(2).readIndex('none');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('LEADER_NOT_AVAILABLE');
  });
});
