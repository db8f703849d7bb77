import { SkeinError } from '../../transport/errors.js';
import { clusterLimits } from '../../transport/limits.js';
import type { BrokerInfo } from '../../transport/protocol/messages.js';
import { foundingMembers } from './controller.js';

/**
 * What the founding brokers must agree on: each writes the metadata group's
 * first entry itself, from its own --peers and --controller-voters, and Raft
 * takes two logs with the same first entry index and term to hold the same
 * entry. Founders given different flags would each believe in another set
 * of voters (two quorums of one cluster) and nothing in Raft would notice.
 * So a founder records, when it writes that entry, its founding
 * configuration (who votes, who learns) beside its data, sends it with its
 * Raft traffic, and a broker refuses Raft traffic from a founder whose
 * founding differs (see Broker.receiveRaft), saying both. Addresses are not
 * part of it: the same broker may be spelled differently in two lists, and
 * registration records where each broker really is.
 *
 * The text is canonical (sorted ids), so equal foundings compare equal, and
 * short enough to send with every Raft message.
 */
export function foundingText(peers: readonly BrokerInfo[], controllerVoters: number): string {
  const { voters, learners } = foundingMembers(peers, controllerVoters);
  return `voters ${voters.join(',')}; learners ${learners.length === 0 ? 'none' : learners.join(',')}`;
}

/** The flags that make a founding, for messages. */
export const foundingFlags = '--peers (its broker ids) and --controller-voters';

export interface FoundingCheckOptions {
  selfId: number;
  /** This broker's founding; undefined for a broker that joined, or a directory from before foundings were recorded. */
  own: string | undefined;
  /** Whether this broker is in the metadata (registered): a cluster formed with it. */
  registered: () => boolean;
  onNotice: (message: string) => void;
}

/**
 * Raft traffic is taken only from founders whose founding is this broker's
 * (or from brokers that send none: joiners, older directories). The first
 * time a founder differs: a broker that has formed no cluster yet refuses to
 * go on (`refused` settles: the command exits saying why; its directory holds
 * nothing but a first entry from the wrong flags), and one that has says so
 * and drops that founder's traffic for as long as it runs.
 */
export class FoundingCheck {
  /** Settles when this broker must not go on: its founding is not the cluster's. */
  readonly refused: Promise<SkeinError>;
  private refuse!: (error: SkeinError) => void;
  private readonly said = new Set<number>();

  constructor(private readonly options: FoundingCheckOptions) {
    this.refused = new Promise((resolve) => (this.refuse = resolve));
  }

  /** Whether to take Raft traffic from broker `from`, which sent `theirs` (undefined: none). */
  accepts(from: number, theirs: string | undefined): boolean {
    const { own, selfId } = this.options;
    if (own === undefined || theirs === undefined || theirs === own) return true;
    // One word per founder: ids are bounded (brokerIdMax), and a cluster has at most brokersMax founders.
    if (this.said.has(from) || this.said.size >= clusterLimits.brokersMax) return false;
    this.said.add(from);
    const difference = `broker ${selfId} was founded as "${own}", broker ${from} as "${theirs}": every founding broker must be started with the same ${foundingFlags}`;
    if (this.options.registered()) this.options.onNotice(`${difference}; broker ${from}'s Raft traffic is refused`);
    else this.refuse(new SkeinError('INVALID_CONFIG', { message: `${difference}. Broker ${selfId} formed no cluster with them: start it again on an empty --data directory with the flags the other founders have` }));
    return false;
  }
}
