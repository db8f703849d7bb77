import type { Entry, NodeId } from '../../broker/raft/core/types.js';
import { chainNext, entryKey, type ApplyObserver } from './state-machine.js';

/**
 * The safety properties of Raft, checked as the simulation runs:
 * - election safety: at most one leader per term (ever), and no replica
 *   grants its vote to two candidates in one term (seen on the wire, so a
 *   vote forgotten across a restart shows even when no second leader follows);
 * - log matching: two logs holding an entry with the same index and term
 *   hold the same entry, preceded by the same term (checked on every append,
 *   which by induction gives identical prefixes);
 * - leader completeness: a new leader of term T holds every entry a leader of
 *   an earlier term committed;
 * - state machine safety: every replica applies entries contiguously, and the
 *   entry it applies at index i is the one every other replica applied at i
 *   (so each applied sequence is a prefix of one history); a snapshot a
 *   replica restores carries the chain hash of that history.
 * The first violation is kept; the simulation stops at it.
 */

export interface LeaderView {
  readonly id: NodeId;
  readonly term: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  termAt(index: number): number | undefined;
}

export class Checker implements ApplyObserver {
  violation: string | null = null;
  readonly counters = { appendsChecked: 0, appliesChecked: 0, restoresChecked: 0, leadersChecked: 0, readsChecked: 0 };
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly voteOf = new Map<string, NodeId>();
  /** The one history: at each index, the entry every replica must apply there. */
  readonly history: Array<{ term: number; key: string } | undefined> = [];
  /** Chain hash of the history through each index, as far as it is contiguous. */
  readonly historyChain: number[] = [0];
  private readonly logEntries = new Map<string, { prevTerm: number; key: string }>();
  /** Highest index a leader of each term was seen to commit. */
  private readonly committedByTerm = new Map<number, number>();

  constructor(private readonly now: () => number) {}

  fail(message: string): void {
    if (this.violation === null) this.violation = `t=${(this.now() / 1000).toFixed(3)}s: ${message}`;
  }

  onVoteGranted(voter: NodeId, candidate: NodeId, term: number): void {
    const key = `${voter}:${term}`;
    const earlier = this.voteOf.get(key);
    if (earlier === undefined) this.voteOf.set(key, candidate);
    else if (earlier !== candidate) this.fail(`vote safety: node ${voter} voted for ${earlier} and for ${candidate} in term ${term}`);
  }

  onAppend(node: NodeId, entries: readonly Entry[], prevTerm: number): void {
    let prev = prevTerm;
    for (const e of entries) {
      this.counters.appendsChecked++;
      const id = `${e.index}:${e.term}`;
      const key = entryKey(e);
      const seen = this.logEntries.get(id);
      if (seen === undefined) this.logEntries.set(id, { prevTerm: prev, key });
      else if (seen.prevTerm !== prev || seen.key !== key) {
        this.fail(`log matching: node ${node} appended ${id} = ${key} after term ${prev}; another log holds ${seen.key} after term ${seen.prevTerm}`);
      }
      prev = e.term;
    }
  }

  onApply(node: NodeId, entry: Entry, previousIndex: number): void {
    this.counters.appliesChecked++;
    if (entry.index !== previousIndex + 1) {
      this.fail(`node ${node} applied index ${entry.index} after ${previousIndex}: a gap or a repeat`);
      return;
    }
    const key = entryKey(entry);
    const known = this.history[entry.index];
    if (known === undefined) {
      this.history[entry.index] = { term: entry.term, key };
      while (this.historyChain.length < this.history.length && this.history[this.historyChain.length] !== undefined) {
        const i = this.historyChain.length;
        const h = this.history[i]!;
        this.historyChain.push(chainNext(this.historyChain[i - 1]!, { index: i, term: h.term, key: h.key }));
      }
    } else if (known.term !== entry.term || known.key !== key) {
      this.fail(`state machine safety: node ${node} applied ${entry.index}:${entry.term} ${key}, but ${entry.index}:${known.term} ${known.key} was applied elsewhere`);
    }
  }

  onRestore(node: NodeId, index: number, chain: number): void {
    this.counters.restoresChecked++;
    const expected = this.historyChain[index];
    if (expected !== undefined && expected !== chain) this.fail(`node ${node} restored a snapshot at ${index} whose state differs from the history`);
  }

  /** Called for every replica that is leader after a simulation step. */
  observeLeader(view: LeaderView, commit: number): void {
    const known = this.leaderOfTerm.get(view.term);
    if (known !== undefined && known !== view.id) {
      this.fail(`election safety: nodes ${known} and ${view.id} both led term ${view.term}`);
      return;
    }
    if (known === undefined) {
      this.leaderOfTerm.set(view.term, view.id);
      this.checkCompleteness(view);
    }
    if (commit > (this.committedByTerm.get(view.term) ?? 0)) this.committedByTerm.set(view.term, commit);
  }

  private checkCompleteness(view: LeaderView): void {
    this.counters.leadersChecked++;
    let mustHold = 0;
    for (const [term, index] of this.committedByTerm) if (term < view.term && index > mustHold) mustHold = index;
    if (view.lastIndex < mustHold) {
      this.fail(`leader completeness: node ${view.id} leads term ${view.term} with last index ${view.lastIndex}, but ${mustHold} was committed earlier`);
      return;
    }
    for (let i = Math.max(1, view.firstIndex); i <= mustHold; i++) {
      const h = this.history[i];
      if (h === undefined) continue;
      const term = view.termAt(i);
      if (term !== h.term) {
        this.fail(`leader completeness: node ${view.id} leads term ${view.term} holding ${i}:${term}, but ${i}:${h.term} was committed`);
        return;
      }
    }
  }

  /** Final check of one converged replica's log against the history. */
  checkLog(id: NodeId, view: { firstIndex: number; commit: number; termAt(index: number): number | undefined }): void {
    for (let i = view.firstIndex; i <= view.commit; i++) {
      const h = this.history[i];
      if (h !== undefined && view.termAt(i) !== h.term) {
        this.fail(`node ${id} holds ${i}:${view.termAt(i)} within its commit, but the history has ${i}:${h.term}`);
        return;
      }
    }
  }
}
