import { describe, expect, it } from 'vitest';
import { PeerLaneChooser, raftWireBytes } from '../../broker/cluster/peer-lanes.js';
import { raftEnvelopeToWire } from '../../broker/raft/codec.js';
import type { RaftMessage } from '../../broker/raft/core/types.js';
import { brokerLimits } from '../../transport/limits.js';

const wire = (group: string, message: RaftMessage) => raftEnvelopeToWire({ group, message });
const addressed = { from: 1, to: 2, term: 3 };
/** An append of one entry after `prevIndex` (none for 0 bytes) whose message raftWireBytes estimates at `bytes`. */
function appendOf(group: string, bytes: number, prevIndex = 10, term = 3) {
  const entries = bytes === 0 ? [] : [{ index: prevIndex + 1, term, type: 'normal' as const, data: new Uint8Array(bytes - 64 - 16) }];
  return wire(group, { type: 'append', ...addressed, term, prevIndex, prevTerm: term, commit: 10, entries });
}
const snapshotOf = (index: number) =>
  wire('m', { type: 'snapshot', ...addressed, snapshot: { meta: { index, term: 3, config: { voters: [1, 2, 3], votersOutgoing: [], learners: [], learnersNext: [] } }, data: new Uint8Array(10) } });
/** The route of `w` when the peer has acknowledged the bulk lane's stream up to `ackedBytes`. */
const chosen = (chooser: PeerLaneChooser, w: ReturnType<typeof wire>, ackedBytes = 0) => chooser.choose(w, raftWireBytes(w), ackedBytes);

describe('peer lanes: which connection a Raft message takes', () => {
  const limit = brokerLimits.peerControlAppendBytesMax;
  const large = limit + 1;

  it('an append up to peerControlAppendBytesMax goes with the control traffic, one byte more on the bulk lane', () => {
    expect(raftWireBytes(appendOf('x', limit))).toBe(limit);
    expect(chosen(new PeerLaneChooser(), appendOf('x', limit))).toBe('control');
    expect(chosen(new PeerLaneChooser(), appendOf('x', large))).toBe('bulk');
    expect(chosen(new PeerLaneChooser(), appendOf('x', 0))).toBe('control');
  });

  it('heartbeats, votes and answers always take the control lane; snapshots of any size the bulk lane', () => {
    const chooser = new PeerLaneChooser();
    expect(chosen(chooser, appendOf('x', 1024 * 1024))).toBe('bulk');
    for (const message of [
      { type: 'heartbeat', ...addressed, commit: 10, readRound: 0 },
      { type: 'heartbeatResponse', ...addressed, readRound: 0 },
      { type: 'vote', ...addressed, lastIndex: 10, lastTerm: 3, transfer: false },
      { type: 'preVoteResponse', ...addressed, reject: true },
      { type: 'appendResponse', ...addressed, index: 10, reject: false, hintIndex: 0, hintTerm: 0 },
      { type: 'timeoutNow', ...addressed },
    ] satisfies RaftMessage[]) {
      // Even for the group whose catch-up is on the bulk lane.
      expect(chosen(chooser, wire('x', message)), message.type).toBe('control');
    }
    expect(chosen(new PeerLaneChooser(), snapshotOf(10))).toBe('bulk');
  });

  it('a group with a large append on the bulk lane keeps its appends there until the peer has them', () => {
    const chooser = new PeerLaneChooser();
    expect(chosen(chooser, appendOf('x', large))).toBe('bulk');
    chooser.shipped('x', 1_000);
    // A small append of the same group would overtake the large one and be refused: it follows it.
    expect(chosen(chooser, appendOf('x', 100, 11), 999)).toBe('bulk');
    chooser.shipped('x', 1_100);
    expect(chosen(chooser, appendOf('x', 0, 12), 1_000)).toBe('bulk');
    chooser.shipped('x', 1_200);
    // Another group's small appends are not held behind it.
    expect(chosen(chooser, appendOf('y', 100), 1_000)).toBe('control');
    expect(chooser.bulkGroupCount).toBe(1);
    // The peer acknowledged the stream up to the end of the last one: the group's small appends take the control lane again.
    expect(chosen(chooser, appendOf('x', 100, 12), 1_200)).toBe('control');
    expect(chooser.bulkGroupCount).toBe(0);
  });

  it('a bulk lane lost with what it held sends every group back to the control lane', () => {
    const chooser = new PeerLaneChooser();
    chosen(chooser, appendOf('x', large));
    chooser.reset();
    expect(chosen(chooser, appendOf('x', 100, 11))).toBe('control');
  });

  it('a copy of what the bulk lane has not yet delivered is not sent again (a probing leader resends at every heartbeat answer)', () => {
    const chooser = new PeerLaneChooser();
    expect(chosen(chooser, appendOf('x', large))).toBe('bulk');
    expect(chosen(chooser, appendOf('x', large))).toBe('duplicate');
    chooser.shipped('x', 1_000);
    expect(chosen(chooser, appendOf('x', large), 999)).toBe('duplicate');
    // A probing leader's resend from the same index carries what was appended since too: still a resend.
    expect(chosen(chooser, wire('x', { type: 'append', ...addressed, prevIndex: 10, prevTerm: 3, commit: 10, entries: [11, 12].map((index) => ({ index, term: 3, type: 'normal' as const, data: new Uint8Array(limit) })) }), 999)).toBe('duplicate');
    // Its continuation is new, and extends what the lane holds; a copy of either part is then a duplicate.
    expect(chosen(chooser, appendOf('x', large, 11), 999)).toBe('bulk');
    chooser.shipped('x', 2_000);
    expect(chosen(chooser, appendOf('x', 100, 11), 1_500)).toBe('duplicate');
    expect(chosen(chooser, appendOf('x', large, 10), 1_500)).toBe('duplicate');
    // An empty append carries nothing: it goes, behind the rest.
    expect(chosen(chooser, appendOf('x', 0, 10), 1_500)).toBe('bulk');
    // A new leader's (a newer term's) entries differ: they go.
    expect(chosen(chooser, appendOf('x', large, 10, 4), 1_500)).toBe('bulk');
    chooser.shipped('x', 3_000);
    // Once the peer has it, a resend is a resend: the follower may have dropped what arrived.
    expect(chosen(chooser, appendOf('x', large, 10, 4), 3_000)).toBe('bulk');
    expect(chosen(chooser, snapshotOf(20))).toBe('bulk');
    expect(chosen(chooser, snapshotOf(20))).toBe('duplicate');
    expect(chosen(chooser, snapshotOf(21))).toBe('bulk');
    // An append that starts before the span under way carries entries the peer lacks: it goes.
    const other = new PeerLaneChooser();
    chosen(other, appendOf('x', large, 10));
    expect(chosen(other, appendOf('x', large, 9))).toBe('bulk');
  });
});
