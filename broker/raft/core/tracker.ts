import { membersOf, votersOf } from './membership.js';
import { Progress } from './progress.js';
import { jointValue, jointVote, type VoteResult } from './quorum.js';
import { emptyConfig, type ConfigState, type NodeId } from './types.js';

/** The configuration, a leader's view of every member's log, and a candidate's votes. */
export class ProgressTracker {
  config: ConfigState = emptyConfig;
  readonly progress = new Map<NodeId, Progress>();
  private voterIds: NodeId[] = [];
  private readonly votes = new Map<NodeId, boolean>();

  constructor(private readonly limits: { inflightCountMax: number; inflightBytesMax: number }) {}

  setConfig(config: ConfigState, lastIndex: number): void {
    this.config = config;
    this.voterIds = votersOf(config);
    const members = new Set(membersOf(config));
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    for (const id of members) {
      if (!this.progress.has(id)) {
        const pr = this.newProgress(lastIndex);
        // A new member gets one election timeout of grace before check-quorum counts it as silent.
        pr.recentActive = true;
        this.progress.set(id, pr);
      }
    }
  }

  /** Fresh progress for everyone, as a new leader starts from scratch. */
  resetProgress(lastIndex: number): void {
    for (const id of [...this.progress.keys()]) this.progress.set(id, this.newProgress(lastIndex));
  }

  private newProgress(lastIndex: number): Progress {
    return new Progress({ next: lastIndex + 1, ...this.limits });
  }

  voters(): readonly NodeId[] {
    return this.voterIds;
  }

  isVoter(id: NodeId): boolean {
    return this.voterIds.includes(id);
  }

  /** The highest index a (joint) majority has acknowledged. */
  committed(): number {
    return jointValue(this.config, (id) => this.progress.get(id)?.match ?? 0);
  }

  /** The highest value of `valueOf` a (joint) majority has reached. */
  quorumValue(valueOf: (id: NodeId) => number): number {
    return jointValue(this.config, valueOf);
  }

  /** Whether a (joint) majority was heard from recently; `self` always counts. */
  quorumActive(self: NodeId): boolean {
    const active = new Map<NodeId, boolean>();
    for (const id of this.voterIds) active.set(id, id === self || this.progress.get(id)?.recentActive === true);
    return jointVote(this.config, active) === 'won';
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records a vote (the first answer from each voter counts). */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tally(): VoteResult {
    return jointVote(this.config, this.votes);
  }
}
