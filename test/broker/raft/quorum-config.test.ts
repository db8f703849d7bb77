import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyConfEntry, configFromUnknown, decodeConfEntry, encodeConfEntry, type ConfEntry } from '../../../broker/raft/core/membership.js';
import { MembershipHistory } from '../../../broker/raft/core/membership-history.js';
import { jointValue, jointVote, majorityValue } from '../../../broker/raft/core/quorum.js';
import type { ConfigState, Entry } from '../../../broker/raft/core/types.js';

const steady = (voters: number[], learners: number[] = []): ConfigState => ({ voters, votersOutgoing: [], learners, learnersNext: [] });

describe('quorum arithmetic', () => {
  it('commits the largest index a majority holds, as a naive count says', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(1000), { minLength: 1, maxLength: 9 }), (matches) => {
        const voters = matches.map((_, i) => i + 1);
        const got = majorityValue(voters, (id) => matches[id - 1]!);
        // Naive: the largest value v such that more than half the voters hold >= v.
        const naive = Math.max(0, ...matches.filter((v) => matches.filter((m) => m >= v).length * 2 > matches.length));
        expect(got).toBe(naive);
      }),
    );
  });

  it('needs both halves of a joint configuration', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(100), { minLength: 6, maxLength: 6 }), (matches) => {
        const config: ConfigState = { voters: [1, 2, 3], votersOutgoing: [4, 5, 6], learners: [], learnersNext: [] };
        const valueOf = (id: number): number => matches[id - 1]!;
        expect(jointValue(config, valueOf)).toBe(Math.min(majorityValue([1, 2, 3], valueOf), majorityValue([4, 5, 6], valueOf)));
      }),
    );
    const joint: ConfigState = { voters: [1, 2, 3], votersOutgoing: [3, 4, 5], learners: [], learnersNext: [] };
    const votes = (granted: number[], refused: number[] = []): Map<number, boolean> => new Map([...granted.map((id) => [id, true] as const), ...refused.map((id) => [id, false] as const)]);
    expect(jointVote(joint, votes([1, 2]))).toBe('pending');
    expect(jointVote(joint, votes([1, 2, 4, 5]))).toBe('won');
    expect(jointVote(joint, votes([1, 2, 3]))).toBe('pending'); // the old half has only 3
    expect(jointVote(joint, votes([1, 2, 3, 4]))).toBe('won');
    expect(jointVote(joint, votes([1, 2], [4, 5]))).toBe('lost');
  });
});

describe('membership changes', () => {
  it('enters and leaves a joint configuration, turning demoted voters into learners only on leaving', () => {
    const enter = applyConfEntry(steady([1, 2, 3], [4]), {
      kind: 'enterJoint',
      changes: [
        { type: 'addVoter', node: 4 },
        { type: 'addLearner', node: 3 },
        { type: 'addVoter', node: 5 },
      ],
    });
    expect(enter).toEqual({ voters: [1, 2, 4, 5], votersOutgoing: [1, 2, 3], learners: [], learnersNext: [3] });
    expect(applyConfEntry(enter as ConfigState, { kind: 'leaveJoint' })).toEqual(steady([1, 2, 4, 5], [3]));
  });

  it('refuses what does not apply', () => {
    const joint: ConfigState = { voters: [1, 2], votersOutgoing: [1, 2, 3], learners: [], learnersNext: [] };
    expect(typeof applyConfEntry(joint, { kind: 'enterJoint', changes: [{ type: 'addVoter', node: 4 }] })).toBe('string');
    expect(typeof applyConfEntry(steady([1]), { kind: 'leaveJoint' })).toBe('string');
    expect(typeof applyConfEntry(steady([1]), { kind: 'enterJoint', changes: [{ type: 'remove', node: 1 }] })).toBe('string');
    expect(typeof applyConfEntry(steady([1]), { kind: 'enterJoint', changes: [] })).toBe('string');
    expect(typeof applyConfEntry(steady([1]), { kind: 'bootstrap', config: steady([2]) })).toBe('string');
  });

  it('encodes config entries and refuses malformed ones', () => {
    const entries: ConfEntry[] = [{ kind: 'leaveJoint' }, { kind: 'bootstrap', config: steady([1, 2, 3], [4]) }, { kind: 'enterJoint', changes: [{ type: 'remove', node: 9 }] }];
    for (const e of entries) expect(decodeConfEntry(encodeConfEntry(e))).toEqual(e);
    for (const bad of ['', '{', '[]', '{"kind":"x"}', '{"kind":"enterJoint","changes":[{"type":"addVoter","node":0}]}', '{"kind":"bootstrap","config":{"voters":[1],"learners":[1],"votersOutgoing":[],"learnersNext":[]}}']) {
      expect(typeof decodeConfEntry(new TextEncoder().encode(bad))).toBe('string');
    }
    expect(typeof decodeConfEntry(new Uint8Array([0xff, 0xfe]))).toBe('string');
    expect(typeof configFromUnknown({ voters: [1], votersOutgoing: [], learners: [], learnersNext: [2] })).toBe('string');
  });

  it('takes a configuration from the log as entries append, and rolls it back when they are truncated', () => {
    const config = (index: number, entry: ConfEntry): Entry => ({ index, term: 1, type: 'config', data: encodeConfEntry(entry) });
    const h = new MembershipHistory({ index: 1, config: steady([1, 2, 3]) });
    expect(h.appended(5, [config(5, { kind: 'enterJoint', changes: [{ type: 'addVoter', node: 4 }] })])).toBe(true);
    expect(h.current().votersOutgoing).toEqual([1, 2, 3]);
    expect(h.appended(6, [config(6, { kind: 'leaveJoint' })])).toBe(true);
    expect(h.current()).toEqual(steady([1, 2, 3, 4]));
    expect(h.at(5).votersOutgoing).toEqual([1, 2, 3]);
    expect(h.at(4)).toEqual(steady([1, 2, 3]));
    // A new leader overwrites from index 6: the joint configuration is back.
    expect(h.appended(6, [{ index: 6, term: 2, type: 'noop', data: new Uint8Array(0) }])).toBe(true);
    expect(h.currentIndex()).toBe(5);
    // From index 5: everything goes.
    h.appended(5, [{ index: 5, term: 2, type: 'normal', data: new Uint8Array(0) }]);
    expect(h.current()).toEqual(steady([1, 2, 3]));
    expect(h.check(5, [config(5, { kind: 'leaveJoint' })])).not.toBeNull();
    expect(() => h.appended(5, [config(5, { kind: 'leaveJoint' })])).toThrow();
  });
});
