import { describe, expect, it } from 'vitest';
import { TestCluster } from './harness.js';

describe('elections', () => {
  it('elects exactly one leader by timeout alone, with randomized timeouts', () => {
    const c = new TestCluster({ voters: [1, 2, 3, 4, 5], seed: 7 });
    c.tickAll(40);
    expect(c.leaders()).toHaveLength(1);
    const term = c.core(c.leaders()[0]!).status().term;
    for (const id of [1, 2, 3, 4, 5]) expect(c.core(id).status()).toMatchObject({ term, leader: c.leaders()[0] });
  });

  it('does not vote for a candidate whose log is behind (§5.4.1)', () => {
    const c = new TestCluster({ voters: [1, 2, 3], tuning: { preVote: false, checkQuorum: false } });
    c.campaign(1);
    c.isolate(3);
    c.propose(1, 'a');
    c.heal();
    c.isolate(1);
    c.campaign(3);
    expect(c.core(3).status().role).not.toBe('leader');
    expect(c.core(2).status().vote).not.toBe(3);
  });
});

describe('pre-vote', () => {
  function partitionedNodeReturns(preVote: boolean): { before: number; after: number; termAfter: number; leaderAfter: number } {
    const c = new TestCluster({ voters: [1, 2, 3], tuning: { preVote, checkQuorum: false } });
    c.campaign(1);
    const before = c.core(1).status().term;
    c.isolate(3);
    // Cut off, node 3 times out again and again.
    for (let i = 0; i < 100; i++) c.tick(3);
    c.tickAll(1);
    c.heal();
    c.tickAll(5);
    const leader = c.leaders()[0] ?? 0;
    return { before, after: c.core(3).status().term, termAfter: leader === 0 ? 0 : c.core(leader).status().term, leaderAfter: leader };
  }

  it('keeps a partitioned replica from raising its term, so its return disrupts nothing', () => {
    const r = partitionedNodeReturns(true);
    expect(r.after).toBe(r.before);
    expect(r.leaderAfter).toBe(1);
    expect(r.termAfter).toBe(r.before);
  });

  it('(without pre-vote the same replica returns with a higher term and deposes the leader)', () => {
    const r = partitionedNodeReturns(false);
    expect(r.after).toBeGreaterThan(r.before + 5);
    expect(r.termAfter).toBeGreaterThan(r.before);
  });

  it('still elects a leader when the old one is really gone', () => {
    const c = new TestCluster({ voters: [1, 2, 3], tuning: { preVote: true } });
    c.campaign(1);
    c.stop(1);
    c.tickAll(40);
    expect(c.leaders()).toHaveLength(1);
    expect(c.leaders()[0]).not.toBe(1);
  });
});

describe('check-quorum', () => {
  it('makes a leader that cannot hear a majority step down within two election timeouts', () => {
    const c = new TestCluster({ voters: [1, 2, 3], tuning: { checkQuorum: true } });
    c.campaign(1);
    c.isolate(1);
    // The first check still counts the answers from before the cut; the second finds nobody.
    c.tick(1, 10);
    expect(c.core(1).status().role).toBe('leader');
    c.tick(1, 10);
    expect(c.core(1).status().role).not.toBe('leader');
    expect(c.core(1).counters.checkQuorumStepDowns).toBe(1);
  });

  it('keeps a leader that hears a majority', () => {
    const c = new TestCluster({ voters: [1, 2, 3], tuning: { checkQuorum: true } });
    c.campaign(1);
    c.isolate(3);
    c.tickAll(50);
    expect(c.core(1).status().role).toBe('leader');
  });

  it('(without check-quorum the isolated leader stays leader forever)', () => {
    const c = new TestCluster({ voters: [1, 2, 3], tuning: { checkQuorum: false } });
    c.campaign(1);
    c.isolate(1);
    c.tick(1, 100);
    expect(c.core(1).status().role).toBe('leader');
  });

  it('ignores vote requests within the leader lease, so a replica that lost contact briefly cannot depose a healthy leader', () => {
    const c = new TestCluster({ voters: [1, 2, 3], tuning: { checkQuorum: true, preVote: false } });
    c.campaign(1);
    const term = c.core(1).status().term;
    c.campaign(3); // node 3 campaigns although everyone hears the leader
    expect(c.core(1).status()).toMatchObject({ role: 'leader', term });
    expect(c.core(2).counters.votesIgnoredInLease).toBeGreaterThan(0);
  });
});

describe('leadership transfer', () => {
  it('hands leadership to the chosen voter in the next term', () => {
    const c = new TestCluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.propose(1, 'a');
    const result = c.core(1).transferLeadership(3);
    expect(result.ok).toBe(true);
    c.stabilize();
    expect(c.leaders()).toEqual([3]);
    expect(c.core(3).status().term).toBe(3);
    c.propose(3, 'b');
    for (const id of [1, 2, 3]) expect(c.appliedText(id)).toEqual(['a', 'b']);
  });

  it('first catches a lagging transferee up, and refuses proposals meanwhile', () => {
    const c = new TestCluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.isolate(3);
    c.propose(1, 'a');
    c.propose(1, 'b');
    c.heal();
    c.dropIf = (m) => m.to === 3 && m.type === 'append';
    expect(c.core(1).transferLeadership(3).ok).toBe(true);
    c.stabilize();
    expect(c.leaders()).toEqual([1]);
    const refused = c.core(1).propose(new TextEncoder().encode('c'));
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.error.code).toBe('LEADER_NOT_AVAILABLE');
    c.dropIf = null;
    c.tickAll(2);
    expect(c.leaders()).toEqual([3]);
    expect(c.appliedText(3)).toEqual(['a', 'b']);
  });

  it('knows which voter could take over at once: heard from lately, and holding all of the log', () => {
    const c = new TestCluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.propose(1, 'a');
    expect(c.core(1).peerCaughtUp(2)).toBe(true);
    expect(c.core(1).peerCaughtUp(1)).toBe(false);
    expect(c.core(1).peerCaughtUp(9)).toBe(false);
    expect(c.core(2).peerCaughtUp(3)).toBe(false);
    c.isolate(3);
    c.propose(1, 'b');
    expect(c.core(1).peerCaughtUp(3)).toBe(false);
    expect(c.core(1).peerCaughtUp(2)).toBe(true);
    c.heal();
    c.tickAll(1);
    c.stabilize();
    expect(c.core(1).peerCaughtUp(3)).toBe(true);
    // Silent for three heartbeats, well inside an election timeout: already not counted on, however full its log.
    c.isolate(2);
    c.tickAll(3);
    expect(c.core(1).peerCaughtUp(2)).toBe(false);
    expect(c.core(1).peerCaughtUp(3)).toBe(true);
    c.tickAll(25);
    expect(c.leaders()).toEqual([1]);
    expect(c.core(1).peerCaughtUp(2)).toBe(false);
    expect(c.core(1).peerCaughtUp(3)).toBe(true);
  });

  it('is abandoned after an election timeout if the transferee never catches up', () => {
    const c = new TestCluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.isolate(3);
    expect(c.core(1).transferLeadership(3).ok).toBe(true);
    c.tickAll(12);
    expect(c.leaders()).toEqual([1]);
    expect(c.core(1).status().transferee).toBe(0);
    expect(c.core(1).counters.transfersAborted).toBe(1);
    expect(c.core(1).propose(new TextEncoder().encode('ok')).ok).toBe(true);
  });

  it('refuses a transfer to a non-voter and from a follower', () => {
    const c = new TestCluster({ voters: [1, 2, 3], learners: [4] });
    c.campaign(1);
    const toLearner = c.core(1).transferLeadership(4);
    expect(toLearner.ok).toBe(false);
    if (!toLearner.ok) expect(toLearner.error.code).toBe('INVALID_ARGUMENT');
    const fromFollower = c.core(2).transferLeadership(3);
    expect(fromFollower.ok).toBe(false);
    if (!fromFollower.ok) expect(fromFollower.error.code).toBe('NOT_LEADER');
  });
});

describe('a member leaving (graceful stop)', () => {
  const heartbeatRound = (c: TestCluster): void => {
    c.tickAll(1);
    c.stabilize();
  };

  it('knows whether the group would go on committing without it: a majority of the others keeps up', () => {
    const c = new TestCluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.propose(1, 'a');
    heartbeatRound(c);
    heartbeatRound(c);
    expect([1, 2, 3].map((id) => c.core(id).replaceable())).toEqual([true, true, true]);
    // 3 falls behind: 1 and 2 commit alone, and neither can go without the other.
    c.isolate(3);
    for (const v of ['b', 'c', 'd']) c.propose(1, v);
    heartbeatRound(c);
    heartbeatRound(c);
    expect([1, 2].map((id) => c.core(id).replaceable())).toEqual([false, false]);
    // Without a leader's word, 3 cannot tell.
    expect(c.core(3).replaceable()).toBe(true);
    c.tickAll(30);
    expect(c.core(3).replaceable()).toBe(false);
    // Back, 3 catches up; the next heartbeats say so.
    c.heal();
    heartbeatRound(c);
    heartbeatRound(c);
    expect(c.core(3).status().lastIndex).toBe(c.core(1).status().lastIndex);
    expect([1, 2, 3].map((id) => c.core(id).replaceable())).toEqual([true, true, true]);
  });

  it('a learner is never needed; a lone voter always is', () => {
    const withLearner = new TestCluster({ voters: [1, 2, 3], learners: [4] });
    withLearner.campaign(1);
    expect(withLearner.core(4).replaceable()).toBe(true);
    const alone = new TestCluster({ voters: [1] });
    alone.campaign(1);
    expect(alone.core(1).replaceable()).toBe(false);
  });

  it('campaigns no more, not even when a leader hands it leadership; it still votes', () => {
    const c = new TestCluster({ voters: [1, 2, 3] });
    c.campaign(1);
    c.core(2).leave();
    expect(c.core(1).transferLeadership(2).ok).toBe(true);
    c.stabilize();
    expect(c.leaders()).toEqual([1]);
    // The leader gone, 2 waits for 3 to win, and votes for it.
    c.isolate(1);
    c.tickAll(60);
    expect(c.leaders().filter((id) => id !== 1)).toEqual([3]);
    expect(c.core(2).counters.electionsStarted + c.core(2).counters.preElectionsStarted).toBe(0);
  });

  it('ends a campaign under way: the votes that come back after it left elect nobody', () => {
    const c = new TestCluster({ voters: [1, 2, 3] });
    c.core(1).campaign();
    expect(c.core(1).status().role).toBe('preCandidate');
    c.core(1).leave();
    c.stabilize();
    expect(c.core(1).status().role).toBe('follower');
    expect(c.leaders()).toEqual([]);
  });
});
