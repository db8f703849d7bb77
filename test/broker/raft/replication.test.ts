import { describe, expect, it } from 'vitest';
import type { RaftMessage } from '../../../broker/raft/core/types.js';
import { TestCluster } from './harness.js';

// Classic scenarios of log replication: the paper's Figure 8, stale leaders, divergent followers.

const classic = { preVote: false, checkQuorum: false };

describe('Figure 8 of the Raft paper: an entry of an older term is never committed by counting replicas', () => {
  function upToFigure8c(): TestCluster {
    // One entry per append, so a test can let index 3 through while holding index 4 back.
    const c = new TestCluster({ voters: [1, 2, 3, 4, 5], tuning: { ...classic, appendBytesMax: 0 } });
    c.campaign(1); // (a) S1 leads term 2; index 2 is its no-op, committed everywhere.
    expect(c.core(1).status().commit).toBe(2);
    for (const to of [3, 4, 5]) c.cutLink(1, to);
    c.propose(1, 'x'); // index 3, term 2, reaches S2 only
    expect(c.logOf(2)).toEqual(['1:1', '2:2', '3:2']);
    c.stop(1);
    c.heal();

    // (b) S5 wins term 3 with S3 and S4, appends its no-op at index 3, and crashes before replicating it.
    c.dropIf = (m) => m.from === 5 && m.type === 'append';
    c.campaign(5);
    expect(c.core(5).status()).toMatchObject({ role: 'leader', term: 3, lastIndex: 3 });
    c.stop(5);
    c.heal();

    // (c) S1 restarts and wins term 4 with S2, S3, S4; it replicates index 3 (term 2) to S3 but not its own no-op.
    c.restart(1);
    // S1's first append to S3 (its no-op after 3:2) gets through and is refused, which makes S1
    // back up and send 3:2; every later append carrying the no-op is lost.
    let firstToThree = true;
    c.dropIf = (m) => {
      if (m.type !== 'append' || !m.entries.some((e) => e.index >= 4)) return false;
      if (m.to === 3 && firstToThree) return (firstToThree = false);
      return true;
    };
    c.campaign(1); // term 3: S3 and S4 already voted for S5 in term 3, and S5 is down
    expect(c.core(1).status()).toMatchObject({ role: 'candidate', term: 3 });
    c.campaign(1);
    expect(c.core(1).status()).toMatchObject({ role: 'leader', term: 4 });
    expect(c.logOf(3)).toEqual(['1:1', '2:2', '3:2']);
    return c;
  }

  it('(c) a majority holds index 3 of term 2, yet the leader of term 4 does not commit it', () => {
    const c = upToFigure8c();
    // S1, S2, S3 hold 3:2 — a majority — but it is not of the current term.
    expect(c.core(1).status().commit).toBe(2);
  });

  it('(d) so the leader of term 3 may still overwrite it, and nobody ever applied it', () => {
    const c = upToFigure8c();
    c.stop(1);
    c.heal();
    c.restart(5);
    c.campaign(5); // term 4 is taken
    c.campaign(5); // term 5: S5's last term 3 beats S2, S3 (term 2) and S4
    expect(c.core(5).status()).toMatchObject({ role: 'leader', term: 5 });
    c.tickAll(3);
    for (const id of [2, 3, 4, 5]) {
      expect(c.logOf(id).slice(0, 3)).toEqual(['1:1', '2:2', '3:3']);
      expect(c.appliedText(id)).not.toContain('x');
    }
  });

  it('(e) once an entry of term 4 is committed on top of it, index 3 is committed and S5 can never win', () => {
    const c = upToFigure8c();
    c.dropIf = null;
    c.tickAll(2);
    expect(c.core(1).status().commit).toBe(4);
    expect(c.appliedText(1)).toEqual(['x']);
    c.stop(1);
    c.restart(5);
    for (let attempt = 0; attempt < 5; attempt++) {
      c.campaign(5);
      expect(c.core(5).status().role).not.toBe('leader');
    }
    c.tickAll(60);
    const leader = c.leaders()[0]!;
    expect(leader).not.toBe(5);
    for (const id of [2, 3, 4, 5]) expect(c.appliedText(id)).toEqual(['x']);
  });
});

describe('a stale leader rejoining', () => {
  it('steps down when it hears the new term, and its uncommitted entries are replaced', () => {
    const c = new TestCluster({ voters: [1, 2, 3], tuning: classic });
    c.campaign(1);
    c.propose(1, 'a');
    c.isolate(1);
    // The old leader keeps accepting proposals it can never commit.
    c.propose(1, 'lost-1');
    c.propose(1, 'lost-2');
    c.campaign(2);
    expect(c.core(2).status()).toMatchObject({ role: 'leader', term: 3 });
    c.propose(2, 'b');
    expect(c.core(1).status()).toMatchObject({ role: 'leader', term: 2 });
    c.heal();
    c.tickAll(2);
    expect(c.core(1).status()).toMatchObject({ role: 'follower', term: 3, leader: 2 });
    for (const id of [1, 2, 3]) expect(c.appliedText(id)).toEqual(['a', 'b']);
    expect(c.logOf(1)).toEqual(c.logOf(2));
  });
});

describe('a follower with a long divergent suffix', () => {
  it('is brought back in one round trip thanks to term hints, not one per entry', () => {
    const c = new TestCluster({ voters: [1, 2, 3], tuning: classic });
    const bytes = (t: string): Uint8Array => new TextEncoder().encode(t);
    c.campaign(1);
    c.isolate(1);
    // Term 2: an isolated leader piles up 100 entries nobody else has.
    for (let i = 0; i < 100; i++) c.core(1).propose(bytes(`stale-${i}`));
    c.processAll();
    expect(c.core(1).status().lastIndex).toBe(102);
    // Term 3: the others commit 40 entries; term 4: a new leader whose first probe lands past the divergence.
    c.campaign(2);
    for (let i = 0; i < 40; i++) c.core(2).propose(bytes(`new-${i}`));
    c.stabilize();
    expect(c.core(2).status().commit).toBe(43);
    c.campaign(3);
    expect(c.core(3).status()).toMatchObject({ role: 'leader', term: 4 });

    let rejections = 0;
    c.heal();
    c.dropIf = (m: RaftMessage) => {
      if (m.type === 'appendResponse' && m.from === 1 && m.reject && m.term === 4) rejections++;
      return false;
    };
    c.tickAll(3);
    expect(c.logOf(1)).toEqual(c.logOf(3));
    expect(c.appliedText(1)).toEqual(c.appliedText(3));
    expect(c.appliedText(1)).toHaveLength(40);
    // The follower's hint (43, term 2) lets the leader skip every entry of term 3 at once;
    // stepping back one entry per rejection would take 41 round trips.
    expect(rejections).toBe(1);
  });
});

describe('pipelining', () => {
  it('keeps at most inflightAppendsMax appends outstanding per follower', () => {
    const c = new TestCluster({ voters: [1, 2, 3], tuning: { ...classic, appendBytesMax: 0, inflightAppendsMax: 4 } });
    c.campaign(1);
    // Hold every answer from 2 so nothing frees the window.
    c.dropIf = (m) => m.from === 2 && m.type === 'appendResponse';
    for (let i = 0; i < 20; i++) c.core(1).propose(new TextEncoder().encode(`e${i}`));
    const rd = c.core(1).ready();
    const toTwo = [...rd.messages, ...rd.messagesAfterPersist].filter((m) => m.type === 'append' && m.to === 2);
    expect(toTwo).toHaveLength(4);
    // Node 3 answers, so entries commit while 2 is paused.
    c.node(1).storage.append(rd.entries);
    c.core(1).advance(rd);
    c.queue.push(...rd.messages, ...rd.messagesAfterPersist);
    c.stabilize();
    expect(c.core(1).status().commit).toBe(22);
    // Once 2 answers again it gets everything.
    c.dropIf = null;
    c.tickAll(3);
    expect(c.appliedText(2)).toHaveLength(20);
  });

  it('batches proposals made in one turn into one append per follower', () => {
    const c = new TestCluster({ voters: [1, 2, 3], tuning: classic });
    c.campaign(1);
    for (let i = 0; i < 50; i++) c.core(1).propose(new TextEncoder().encode(`e${i}`));
    const rd = c.core(1).ready();
    const appends = rd.messages.filter((m) => m.type === 'append');
    expect(appends.map((m) => m.to).sort()).toEqual([2, 3]);
    for (const m of appends) if (m.type === 'append') expect(m.entries).toHaveLength(50);
    c.node(1).storage.append(rd.entries);
    c.core(1).advance(rd);
  });

  it("sends a leader's appends before its own write is durable, but counts its own copy only after", () => {
    const c = new TestCluster({ voters: [1, 2, 3], tuning: classic });
    c.campaign(1);
    c.core(1).propose(new TextEncoder().encode('x'));
    const rd = c.core(1).ready();
    expect(rd.entries).toHaveLength(1);
    expect(rd.messages.some((m) => m.type === 'append')).toBe(true);
    // Both followers acknowledge before the leader's own write completes: 2 of 3 is a majority without it.
    c.queue.push(...rd.messages);
    c.node(1).storage.append(rd.entries);
    c.stabilize();
    expect(c.core(1).status().commit).toBe(3);
    c.core(1).advance(rd);
  });

  it("with piggybacked commit notices, a commit costs no empty append: followers learn it from the next append or heartbeat", () => {
    const count = (tuning: object): { appends: number; responses: number; followerCommit: number } => {
      const c = new TestCluster({ voters: [1, 2, 3], tuning: { ...classic, ...tuning } });
      c.campaign(1);
      let appends = 0;
      let responses = 0;
      c.dropIf = (m) => {
        if (m.type === 'append' && m.entries.length === 0) appends++;
        if (m.type === 'appendResponse') responses++;
        return false;
      };
      c.propose(1, 'x');
      expect(c.core(1).status().commit).toBe(3);
      return { appends, responses, followerCommit: c.core(2).status().commit };
    };
    // Immediate: the entries' round, then an empty append carrying the commit and its answers.
    expect(count({ commitNotice: 'immediate' })).toEqual({ appends: 2, responses: 4, followerCommit: 3 });
    // Piggyback: one round; the followers do not know yet.
    expect(count({ commitNotice: 'piggyback' })).toEqual({ appends: 0, responses: 2, followerCommit: 2 });

    const c = new TestCluster({ voters: [1, 2, 3], tuning: { ...classic, commitNotice: 'piggyback' } });
    c.campaign(1);
    c.propose(1, 'a');
    expect(c.core(2).status().commit).toBe(2);
    // The next write carries the commit of the one before it...
    c.propose(1, 'b');
    expect(c.core(2).status().commit).toBe(3);
    expect(c.appliedText(2)).toEqual(['a']);
    // ...and when writes stop, the heartbeat does.
    c.tickAll(1);
    expect(c.core(2).status().commit).toBe(4);
    expect(c.core(3).status().commit).toBe(4);
    expect(c.appliedText(3)).toEqual(['a', 'b']);
  });
});
