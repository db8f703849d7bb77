import type { NodeId } from './types.js';

/**
 * The leader's side of linearizable reads (Raft thesis §6.4). A read gets
 * the commit index at the time it arrives; it is safe to serve once a
 * majority confirms, after that moment, that we are still leader. Reads
 * arriving together share one confirmation round (one heartbeat broadcast),
 * and rounds only grow, so a majority acknowledging round r confirms every
 * read of rounds <= r.
 */

export interface ReadRequest {
  readonly requestId: string;
  /** Where the answer goes: ourselves (a local reader) or a follower. */
  readonly from: NodeId;
}

export interface ConfirmedRead extends ReadRequest {
  readonly index: number;
}

interface PendingRead extends ConfirmedRead {
  readonly round: number;
}

export class ReadIndexQueue {
  /** Last round started; persists across leaderships of this replica (responses carry the term, so no confusion). */
  round = 0;
  /** Reads that arrived before this leader committed an entry of its term: its commit index may still be stale. */
  private beforeCommit: ReadRequest[] = [];
  private unsent: ConfirmedRead[] = [];
  private pending: PendingRead[] = [];
  private readonly acked = new Map<NodeId, number>();

  constructor(private readonly countMax: number) {}

  get size(): number {
    return this.beforeCommit.length + this.unsent.length + this.pending.length;
  }

  /** False when the queue is full (the reader should retry). */
  addBeforeCommit(request: ReadRequest): boolean {
    if (this.size >= this.countMax) return false;
    this.beforeCommit.push(request);
    return true;
  }

  takeBeforeCommit(): ReadRequest[] {
    const out = this.beforeCommit;
    this.beforeCommit = [];
    return out;
  }

  add(request: ReadRequest, index: number): boolean {
    if (this.size >= this.countMax) return false;
    this.unsent.push({ ...request, index });
    return true;
  }

  /** Starts a confirmation round for the reads waiting for one; null if none wait. */
  startRound(): number | null {
    if (this.unsent.length === 0) return null;
    this.round++;
    for (const read of this.unsent) this.pending.push({ ...read, round: this.round });
    this.unsent = [];
    return this.round;
  }

  ack(from: NodeId, round: number): void {
    if (round > (this.acked.get(from) ?? 0)) this.acked.set(from, round);
  }

  ackedRound(id: NodeId): number {
    return this.acked.get(id) ?? 0;
  }

  /** Reads whose round a majority confirmed. */
  release(confirmedRound: number): ConfirmedRead[] {
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.round <= confirmedRound) n++;
    if (n === 0) return [];
    return this.pending.splice(0, n).map(({ requestId, from, index }) => ({ requestId, from, index }));
  }

  /** Leadership is lost: the waiting readers time out and retry elsewhere. */
  reset(): void {
    this.beforeCommit = [];
    this.unsent = [];
    this.pending = [];
    this.acked.clear();
  }
}
