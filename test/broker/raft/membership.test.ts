import { describe, expect, it } from 'vitest';
import type { ConfChange } from '../../../broker/raft/core/membership.js';
import type { ConfigState } from '../../../broker/raft/core/types.js';
import { TestCluster } from './harness.js';

function change(c: TestCluster, leader: number, changes: ConfChange[]): void {
  const r = c.core(leader).proposeConfChange(changes);
  if (!r.ok) throw r.error;
  c.stabilize();
}

const steady = (voters: number[], learners: number[] = []): ConfigState => ({ voters, votersOutgoing: [], learners, learnersNext: [] });

describe('learners', () => {
  it('catch up without voting, never campaign, and are promoted to voters', () => {
    const c = new TestCluster({ voters: [1, 2, 3], others: [4] });
    c.campaign(1);
    c.propose(1, 'a');
    change(c, 1, [{ type: 'addLearner', node: 4 }]);
    c.tickAll(2);
    expect(c.core(1).status().config).toEqual(steady([1, 2, 3], [4]));
    expect(c.core(4).status().config).toEqual(steady([1, 2, 3], [4]));
    expect(c.appliedText(4)).toEqual(['a']);

    // A learner's acknowledgement does not count: with 2 and 3 cut off nothing commits.
    c.isolate(2);
    c.isolate(3);
    const before = c.core(1).status().commit;
    c.propose(1, 'b');
    expect(c.core(4).status().lastIndex).toBe(c.core(1).status().lastIndex);
    expect(c.core(1).status().commit).toBe(before);

    // Left alone, a learner never campaigns.
    c.isolate(4);
    const term = c.core(4).status().term;
    c.tick(4, 200);
    expect(c.core(4).status()).toMatchObject({ role: 'follower', term });

    c.heal();
    c.tickAll(2);
    expect(c.appliedText(4)).toEqual(['a', 'b']);
    change(c, 1, [{ type: 'addVoter', node: 4 }]);
    c.tickAll(2);
    for (const id of [1, 2, 3, 4]) expect(c.core(id).status().config).toEqual(steady([1, 2, 3, 4]));
  });
});

describe('joint consensus', () => {
  it('replaces a voter through a joint configuration that needs both majorities, then leaves it by itself', () => {
    const c = new TestCluster({ voters: [1, 2, 3], others: [4] });
    c.campaign(1);
    const seen: string[] = [];
    const r = c.core(1).proposeConfChange([
      { type: 'addVoter', node: 4 },
      { type: 'remove', node: 3 },
    ]);
    expect(r.ok).toBe(true);
    // The configuration is in force as soon as the entry is in the log.
    expect(c.core(1).status().config).toEqual({ voters: [1, 2, 4], votersOutgoing: [1, 2, 3], learners: [], learnersNext: [] });
    // Joint: {1,2,4} and {1,2,3}. Without 2, the old half needs 3 and the new half needs 4.
    c.isolate(2);
    c.isolate(3);
    for (let i = 0; i < 5; i++) {
      c.tickAll(1);
      seen.push(JSON.stringify(c.core(1).status().config));
    }
    expect(c.core(1).status().config.votersOutgoing).toEqual([1, 2, 3]);
    c.heal();
    c.tickAll(3);
    for (const id of [1, 2, 4]) expect(c.core(id).status().config).toEqual(steady([1, 2, 4]));
    c.propose(1, 'after');
    expect(c.appliedText(4)).toEqual(['after']);
    expect(c.appliedText(3)).toEqual([]);
    expect(seen.length).toBe(5);
  });

  it('demotes a voter to learner only once the joint configuration is left', () => {
    const c = new TestCluster({ voters: [1, 2, 3] });
    c.campaign(1);
    change(c, 1, [{ type: 'addLearner', node: 3 }]);
    c.tickAll(2);
    expect(c.core(1).status().config).toEqual(steady([1, 2], [3]));
  });

  it('lets a removed leader finish the change and step down; the rest elect a new leader', () => {
    const c = new TestCluster({ voters: [1, 2, 3] });
    c.campaign(1);
    change(c, 1, [{ type: 'remove', node: 1 }]);
    c.tickAll(2);
    expect(c.core(1).status().role).toBe('follower');
    expect(c.core(2).status().config).toEqual(steady([2, 3]));
    c.tickAll(40);
    const [leader] = c.leaders();
    expect([2, 3]).toContain(leader);
    c.propose(leader!, 'without-1');
    expect(c.appliedText(2)).toEqual(['without-1']);
    expect(c.appliedText(3)).toEqual(['without-1']);
  });

  it('rolls a follower back to the previous configuration when an uncommitted config entry is overwritten', () => {
    const c = new TestCluster({ voters: [1, 2, 3, 4, 5], others: [6], tuning: { preVote: false, checkQuorum: false } });
    c.campaign(1);
    for (const to of [3, 4, 5]) c.cutLink(1, to);
    change(c, 1, [{ type: 'addVoter', node: 6 }]);
    expect(c.core(2).status().config.votersOutgoing).toEqual([1, 2, 3, 4, 5]);
    c.stop(1);
    c.heal();
    c.campaign(3); // wins with 4 and 5; 2 refuses (its log is longer) but is outvoted
    expect(c.core(3).status().role).toBe('leader');
    c.propose(3, 'x');
    expect(c.core(2).status().config).toEqual(steady([1, 2, 3, 4, 5]));
    expect(c.appliedText(2)).toEqual(['x']);
  });

  it('allows one change at a time, and none before a new leader has committed in its term', () => {
    const c = new TestCluster({ voters: [1, 2, 3], others: [4, 5] });
    c.dropIf = (m) => m.type === 'appendResponse';
    c.campaign(1);
    const early = c.core(1).proposeConfChange([{ type: 'addLearner', node: 4 }]);
    expect(early.ok).toBe(false);
    if (!early.ok) expect(early.error.code).toBe('RECONFIGURATION_IN_PROGRESS');
    c.dropIf = null;
    c.tickAll(2);
    expect(c.core(1).proposeConfChange([{ type: 'addLearner', node: 4 }]).ok).toBe(true);
    const second = c.core(1).proposeConfChange([{ type: 'addLearner', node: 5 }]);
    expect(second.ok).toBe(false);
    if (!second.ok) expect(second.error.code).toBe('RECONFIGURATION_IN_PROGRESS');
    c.tickAll(3);
    expect(c.core(1).proposeConfChange([{ type: 'addLearner', node: 5 }]).ok).toBe(true);
  });

  it('refuses changes that would leave no voter or name a node twice', () => {
    const c = new TestCluster({ voters: [1] });
    c.campaign(1);
    for (const bad of [
      [{ type: 'remove', node: 1 }],
      [
        { type: 'addVoter', node: 2 },
        { type: 'remove', node: 2 },
      ],
    ] as ConfChange[][]) {
      const r = c.core(1).proposeConfChange(bad);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.code).toBe('INVALID_ARGUMENT');
    }
  });
});
