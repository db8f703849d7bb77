import type { NodeId } from '../raft/core/types.js';

const bootstrapTerm = 1;

/**
 * Preferred leaders. Assignment spreads each partition's first replica (its
 * preferred leader) evenly over the brokers, but elections do not care: the
 * first replica to time out wins, and after a crash and restart every
 * leadership may sit on the brokers that stayed up. A broker that leads more
 * than its share does more than its share of the work (it takes the writes,
 * sends the appends and the pushes), and on a small machine that is latency
 * for everyone. So, as Kafka's preferred-leader election does:
 *  - a new partition's preferred replica campaigns at once instead of
 *    waiting out a random election timeout, so it almost always wins;
 *  - a leader that is not the preferred replica hands leadership back once
 *    the preferred one is alive and caught up, and only after it has led for
 *    a while, so a broker that is stopping (it just handed its leaderships
 *    away) or flapping is not handed them straight back.
 */
export interface BalancedReplica {
  /** The partition's first replica in the metadata. */
  readonly preferredLeader: NodeId;
  readonly closed: boolean;
  readonly raft: {
    status(): { role: string; term: number; leader: NodeId; transferee: NodeId };
    peerCaughtUp(to: NodeId): boolean;
    transferLeadership(to: NodeId): void;
    campaign(): void;
  };
}

export interface LeaderBalancerOptions {
  selfId: NodeId;
  /** How long a leadership (or the last hand-back attempt) must stand before it is handed back. */
  holdMs: number;
  /** Brokers heard from recently. */
  alive: () => ReadonlySet<NodeId>;
}

export class LeaderBalancer<R extends BalancedReplica = BalancedReplica> {
  /** When each replica last became leader, or last tried to hand leadership back. */
  private readonly standingSince = new Map<R, number>();

  constructor(private readonly options: LeaderBalancerOptions) {}

  /** A replica here won leadership, or lost it (or is going away): then it is forgotten. */
  leadershipChanged(replica: R, leads: boolean, nowMs: number): void {
    if (leads) this.standingSince.set(replica, nowMs);
    else this.standingSince.delete(replica);
  }

  /** A brand-new replica that is its partition's preferred leader: campaign before anyone's timeout runs out. */
  campaignIfNew(replica: R): void {
    if (replica.closed || replica.preferredLeader !== this.options.selfId) return;
    const status = replica.raft.status();
    // A group starts in the term of its bootstrap entry; any election, won or not, moves it past that.
    if (status.term > bootstrapTerm || status.leader !== 0 || status.role === 'leader' || status.role === 'candidate') return;
    replica.raft.campaign();
  }

  /** One pass over the replicas this broker leads; returns how many hand-backs it started. */
  pass(replicas: Iterable<R>, nowMs: number): number {
    const { selfId, holdMs } = this.options;
    let alive: ReadonlySet<NodeId> | null = null;
    let started = 0;
    for (const replica of replicas) {
      const preferred = replica.preferredLeader;
      if (replica.closed || preferred === selfId) continue;
      const since = this.standingSince.get(replica);
      if (since === undefined || nowMs - since < holdMs) continue;
      const status = replica.raft.status();
      if (status.role !== 'leader' || status.transferee !== 0) continue;
      alive ??= this.options.alive();
      if (!alive.has(preferred) || !replica.raft.peerCaughtUp(preferred)) continue;
      this.standingSince.set(replica, nowMs);
      try {
        replica.raft.transferLeadership(preferred);
        started++;
      } catch {
        // Lost leadership since the status above: nothing to hand back.
      }
    }
    return started;
  }
}
