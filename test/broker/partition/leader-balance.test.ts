import { describe, expect, it } from 'vitest';
import { LeaderBalancer, type BalancedReplica } from '../../../broker/partition/leader-balance.js';

class FakeReplica implements BalancedReplica {
  closed = false;
  role = 'leader';
  term = 3;
  leader = 2;
  transferee = 0;
  caughtUp = new Set<number>([1, 2, 3]);
  transfers: number[] = [];
  campaigns = 0;

  constructor(readonly preferredLeader: number) {}

  readonly raft = {
    status: () => ({ role: this.role, term: this.term, leader: this.leader, transferee: this.transferee }),
    peerCaughtUp: (to: number) => this.caughtUp.has(to),
    transferLeadership: (to: number) => {
      this.transfers.push(to);
    },
    campaign: () => {
      this.campaigns++;
    },
  };
}

function balancer(alive = new Set([1, 2, 3]), holdMs = 1000): LeaderBalancer<FakeReplica> {
  return new LeaderBalancer<FakeReplica>({ selfId: 2, holdMs, alive: () => alive });
}

describe('preferred leaders', () => {
  it('hands a leadership back to the preferred replica once it has stood for the hold time', () => {
    const b = balancer();
    const r = new FakeReplica(1);
    b.leadershipChanged(r, true, 0);
    expect(b.pass([r], 999)).toBe(0);
    expect(b.pass([r], 1000)).toBe(1);
    expect(r.transfers).toEqual([1]);
    // An attempt restarts the hold: a transfer that fails is not retried at once.
    expect(b.pass([r], 1500)).toBe(0);
    expect(b.pass([r], 2000)).toBe(1);
  });

  it('keeps what it should keep: its own preferred partitions, leaderships it lost, and closed replicas', () => {
    const b = balancer();
    const mine = new FakeReplica(2);
    const lost = new FakeReplica(1);
    const closed = new FakeReplica(3);
    closed.closed = true;
    for (const r of [mine, lost, closed]) b.leadershipChanged(r, true, 0);
    b.leadershipChanged(lost, false, 10);
    expect(b.pass([mine, lost, closed], 10_000)).toBe(0);
    expect([mine, lost, closed].flatMap((r) => r.transfers)).toEqual([]);
  });

  it('waits while the preferred replica is down, behind, or a transfer is already under way', () => {
    const alive = new Set([2, 3]);
    const b = balancer(alive);
    const r = new FakeReplica(1);
    b.leadershipChanged(r, true, 0);
    expect(b.pass([r], 5000)).toBe(0);
    alive.add(1);
    r.caughtUp.delete(1);
    expect(b.pass([r], 5000)).toBe(0);
    r.caughtUp.add(1);
    r.transferee = 3;
    expect(b.pass([r], 5000)).toBe(0);
    r.transferee = 0;
    r.role = 'follower';
    expect(b.pass([r], 5000)).toBe(0);
    r.role = 'leader';
    expect(b.pass([r], 5000)).toBe(1);
    expect(r.transfers).toEqual([1]);
  });

  it('a new replica campaigns at once only where it is the preferred leader and nobody has been elected', () => {
    const b = balancer();
    const preferred = new FakeReplica(2);
    preferred.role = 'follower';
    preferred.term = 1;
    preferred.leader = 0;
    b.campaignIfNew(preferred);
    // A pre-vote that reached nobody (the others did not host the partition yet) may be tried again.
    preferred.role = 'preCandidate';
    b.campaignIfNew(preferred);
    expect(preferred.campaigns).toBe(2);
    const other = new FakeReplica(1);
    other.role = 'follower';
    other.term = 1;
    other.leader = 0;
    b.campaignIfNew(other);
    const elected = new FakeReplica(2);
    elected.role = 'follower';
    elected.term = 1;
    elected.leader = 3;
    b.campaignIfNew(elected);
    const electionHeld = new FakeReplica(2);
    electionHeld.role = 'follower';
    electionHeld.term = 2;
    electionHeld.leader = 0;
    b.campaignIfNew(electionHeld);
    expect(other.campaigns + elected.campaigns + electionHeld.campaigns).toBe(0);
  });
});
