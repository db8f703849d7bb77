import type { ConfigState, NodeId } from './types.js';

/**
 * Majority arithmetic, with the joint case: a value is decided by a joint
 * configuration only if both halves decide it.
 */

/**
 * The largest value that a majority of `voters` has reached. An empty voter
 * set decides everything (the missing outgoing half of a non-joint config).
 */
export function majorityValue(voters: readonly NodeId[], valueOf: (id: NodeId) => number): number {
  if (voters.length === 0) return Number.POSITIVE_INFINITY;
  const values = voters.map(valueOf).sort((a, b) => b - a);
  return values[Math.floor(voters.length / 2)]!;
}

export function jointValue(config: ConfigState, valueOf: (id: NodeId) => number): number {
  return Math.min(majorityValue(config.voters, valueOf), majorityValue(config.votersOutgoing, valueOf));
}

export type VoteResult = 'won' | 'lost' | 'pending';

export function majorityVote(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return 'won';
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === undefined) missing++;
    else if (vote) granted++;
  }
  const needed = Math.floor(voters.length / 2) + 1;
  if (granted >= needed) return 'won';
  if (granted + missing >= needed) return 'pending';
  return 'lost';
}

export function jointVote(config: ConfigState, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const a = majorityVote(config.voters, votes);
  const b = majorityVote(config.votersOutgoing, votes);
  if (a === 'lost' || b === 'lost') return 'lost';
  if (a === 'won' && b === 'won') return 'won';
  return 'pending';
}
