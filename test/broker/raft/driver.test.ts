import { describe, expect, it } from 'vitest';
import { isSkeinError, SkeinError } from '../../../transport/errors.js';
import { DriverCluster, ListStateMachine, settle } from './driver-harness.js';

const bytes = (t: string): Uint8Array => new TextEncoder().encode(t);
const APPEND = '5';
const APPEND_RESPONSE = '6';
const VOTE_RESPONSE = '4';

async function expectCode(promise: Promise<unknown>, code: string): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    expect(isSkeinError(error) ? error.code : error).toBe(code);
    return error;
  }
  throw new Error(`expected ${code}`);
}

/** Watches a promise without awaiting it: the test runs the clock, then reads what happened by then. */
function outcomeOf(promise: Promise<unknown>): { error?: SkeinError; resolved?: boolean } {
  const outcome: { error?: SkeinError; resolved?: boolean } = {};
  promise.then(
    () => (outcome.resolved = true),
    (error: unknown) => (outcome.error = isSkeinError(error) ? error : new SkeinError('INTERNAL', { message: String(error) })),
  );
  return outcome;
}

describe('RaftDriver', () => {
  it('elects a leader on its timer, and resolves a proposal once it is committed and applied', async () => {
    const c = await DriverCluster.start([1, 2, 3]);
    const leader = await c.electLeader();
    const proposal = leader.driver.propose(bytes('hello'));
    await c.run(30);
    const done = await proposal;
    expect(done.term).toBe(leader.driver.status().term);
    await c.run(30);
    for (const n of c.nodes.values()) expect(n.sm.applied).toEqual(['hello']);
  });

  it('refuses a proposal on a follower with NOT_LEADER naming the leader', async () => {
    const c = await DriverCluster.start([1, 2, 3]);
    const leader = await c.electLeader();
    const follower = [...c.nodes.values()].find((n) => n !== leader)!;
    const error = await expectCode(follower.driver.propose(bytes('x')), 'NOT_LEADER');
    expect(isSkeinError(error) && error.details).toEqual({ leader: leader.id });
  });

  it('acknowledges an append only after it is durable', async () => {
    const c = await DriverCluster.start([1, 2, 3]);
    const leader = await c.electLeader();
    const follower = [...c.nodes.values()].find((n) => n !== leader)!;
    follower.storage.gated = true;
    c.sent.length = 0;
    void leader.driver.propose(bytes('slow disk')).catch(() => undefined);
    await settle();
    await c.deliver();
    // The leader sent its append before its own write was durable; the follower wrote the entry but holds its answer.
    expect(c.sent.some((m) => m.from === leader.id && m.to === follower.id && m.type === APPEND)).toBe(true);
    expect(follower.storage.lastIndex()).toBe(leader.driver.status().lastIndex);
    expect(c.sent.some((m) => m.from === follower.id && m.type === APPEND_RESPONSE)).toBe(false);
    follower.storage.open();
    await settle();
    await c.deliver();
    expect(c.sent.some((m) => m.from === follower.id && m.type === APPEND_RESPONSE)).toBe(true);
  });

  it('applies what a quorum made durable without waiting for its own fsync of newer entries', async () => {
    const c = await DriverCluster.start([1, 2, 3]);
    const leader = await c.electLeader();
    const done: string[] = [];
    const propose = (text: string): Promise<void> => leader.driver.propose(bytes(text)).then(() => void done.push(text), () => undefined);
    // 'a' becomes durable on the leader; the followers have not seen it yet.
    const a = propose('a');
    await settle();
    // The leader's disk turns slow: its write of 'b' hangs while the followers store a and b and answer.
    leader.storage.gated = true;
    const b = propose('b');
    await settle();
    await c.deliver();
    // 'c' arrives meanwhile, so the next Ready holds new entries (c) and committed ones (a, b) together.
    const later = propose('c');
    leader.storage.open();
    leader.storage.gated = true;
    for (let i = 0; i < 5; i++) await settle();
    expect(done).toEqual(['a', 'b']);
    leader.storage.open();
    await c.run(50);
    await Promise.all([a, b, later]);
    expect(done).toEqual(['a', 'b', 'c']);
  });

  it('saves its vote before answering a vote request', async () => {
    const c = await DriverCluster.start([1, 2, 3]);
    const voter = c.node(2);
    let answeredBeforeSave = false;
    const saves = voter.hardState.saves;
    const original = voter.hardState.save.bind(voter.hardState);
    voter.hardState.save = async (state) => {
      // While the save is in flight nothing may have left node 2 with a vote in it.
      answeredBeforeSave ||= c.sent.some((m) => m.from === 2 && m.type === VOTE_RESPONSE);
      await settle();
      return original(state);
    };
    await c.electLeader();
    expect(voter.hardState.saves).toBeGreaterThan(saves);
    expect(answeredBeforeSave).toBe(false);
  });

  it('serves a linearizable read once the leader confirmed it and the replica applied it', async () => {
    const c = await DriverCluster.start([1, 2, 3]);
    const leader = await c.electLeader();
    const p = leader.driver.propose(bytes('a'));
    await c.run(30);
    await p;
    const follower = [...c.nodes.values()].find((n) => n !== leader)!;
    const read = follower.driver.read();
    await c.run(30);
    const index = await read;
    expect(index).toBeGreaterThanOrEqual((await p).index);
    expect(follower.sm.applied).toEqual(['a']);
  });

  it('times a read out when the leader cannot confirm it', async () => {
    const c = await DriverCluster.start([1, 2, 3], { checkQuorum: false });
    const leader = await c.electLeader();
    for (const n of c.nodes.values()) if (n !== leader) c.cut.add(n.id);
    const read = leader.driver.read();
    const outcome = expectCode(read, 'TIMEOUT');
    await c.run(6000);
    await outcome;
  });

  it('a leader cut off from its peers answers its waiting proposals NOT_LEADER (outcome unknown) once it steps down, not at their deadline', async () => {
    const c = await DriverCluster.start([1, 2, 3]);
    const old = await c.electLeader();
    c.cut.add(old.id);
    const waiting = [old.driver.propose(bytes('a')), old.driver.propose(bytes('b'))].map(outcomeOf);
    // Check-quorum deposes it within two election timeouts (2 x 10 ticks of 10 ms); the deadline is 5 s away.
    await c.run(250);
    expect(old.driver.status().role).not.toBe('leader');
    for (const outcome of waiting) {
      expect(outcome.error?.code).toBe('NOT_LEADER');
      expect(outcome.error?.details).toMatchObject({ outcome: 'unknown' });
    }
  });

  it('a leader deposed by a newer term answers every waiting proposal at once, naming the new leader it heard from', async () => {
    const c = await DriverCluster.start([1, 2, 3], { checkQuorum: false, preVote: false });
    const old = await c.electLeader();
    c.cut.add(old.id);
    // The new leader's no-op overwrites the first; nothing of the new term ever reaches the later indexes.
    const doomed = ['d1', 'd2', 'd3'].map((t) => outcomeOf(old.driver.propose(bytes(t))));
    await c.run(400);
    const fresh = [...c.nodes.values()].find((n) => n !== old && n.driver.status().role === 'leader')!;
    expect(fresh).toBeDefined();
    c.cut.delete(old.id);
    // One heartbeat (10 ms) reaches the old leader: it steps down, learning who leads.
    await c.run(20);
    for (const outcome of doomed) {
      expect(outcome.error?.code).toBe('NOT_LEADER');
      expect(outcome.error?.details).toEqual({ leader: fresh.id, outcome: 'unknown' });
    }
    void fresh.driver.propose(bytes('winner'));
    await c.run(200);
    expect(old.sm.applied).toEqual(['winner']);
  });

  it('snapshots, compacts, and catches a lagging follower up with the snapshot', async () => {
    const c = await DriverCluster.start([1, 2, 3]);
    const leader = await c.electLeader();
    const lagging = [...c.nodes.values()].find((n) => n !== leader)!;
    c.cut.add(lagging.id);
    for (let i = 0; i < 10; i++) void leader.driver.propose(bytes(`e${i}`));
    await c.run(50);
    const snapshot = await leader.driver.snapshot();
    expect(snapshot).not.toBeNull();
    expect(leader.storage.firstIndex()).toBe(snapshot!.meta.index + 1);
    c.cut.delete(lagging.id);
    await c.run(300);
    expect(lagging.sm.restores).toBe(1);
    expect(lagging.sm.applied).toEqual(leader.sm.applied);
    expect(lagging.driver.counters.snapshotsInstalled).toBe(1);
  });

  it('restarts from what it persisted: snapshot, then the log after it', async () => {
    const c = await DriverCluster.start([1, 2, 3]);
    const leader = await c.electLeader();
    for (let i = 0; i < 5; i++) void leader.driver.propose(bytes(`e${i}`));
    await c.run(50);
    const node = [...c.nodes.values()].find((n) => n !== leader)!;
    await node.driver.snapshot({ keepEntries: 2 });
    const p = leader.driver.propose(bytes('after'));
    await c.run(50);
    await p;
    await c.run(50);
    node.driver.close();
    const sm = new ListStateMachine();
    const reopened = await c.open(node.id, node.storage, node.hardState, sm);
    await c.run(100);
    expect(sm.restores).toBe(1);
    expect(reopened.sm.applied).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'after']);
  });

  it('fails waiting callers with REPLICA_STOPPED on close, and refuses new work', async () => {
    const c = await DriverCluster.start([1, 2, 3]);
    const leader = await c.electLeader();
    for (const n of c.nodes.values()) if (n !== leader) c.cut.add(n.id);
    const pending = leader.driver.propose(bytes('never'));
    const outcome = expectCode(pending, 'REPLICA_STOPPED');
    leader.driver.close();
    await outcome;
    await expectCode(leader.driver.propose(bytes('x')), 'REPLICA_STOPPED');
    await expectCode(leader.driver.read(), 'REPLICA_STOPPED');
  });

  it('stops and reports when its storage fails', async () => {
    const failures: unknown[] = [];
    const c = await DriverCluster.start([1], { onFatal: (e) => failures.push(e) });
    const leader = await c.electLeader();
    leader.storage.failNext = new Error('disk on fire');
    const doomed = leader.driver.propose(bytes('x'));
    const outcome = expectCode(doomed, 'REPLICA_STOPPED');
    await c.run(20);
    await outcome;
    expect(leader.driver.isStopped).toBe(true);
    expect(failures).toHaveLength(1);
  });

  it('refuses tick and election settings outside the limits', async () => {
    const bad = await DriverCluster.start([1], { tickMs: 0 }).catch((e: unknown) => e);
    expect(isSkeinError(bad, 'INVALID_CONFIG')).toBe(true);
    const bad2 = await DriverCluster.start([1], { electionTicks: 1 }).catch((e: unknown) => e);
    expect(isSkeinError(bad2, 'INVALID_CONFIG')).toBe(true);
    const bad3 = await DriverCluster.start([1], { id: 0 }).catch((e: unknown) => e);
    expect(isSkeinError(bad3, 'INVALID_CONFIG')).toBe(true);
  });
});
