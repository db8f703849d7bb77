import { systemClock } from '../../transport/clock.js';
import { clusterLimits, raftLimits } from '../../transport/limits.js';
import type { LearnerBudget } from './core/raft.js';

/**
 * The catch-up throttle: a token bucket of bytes a broker may send, as the
 * leader of its partitions, to their learners (new replicas of a move), so
 * that moves do not starve producers. Shared by every partition the broker
 * leads; refilled from the clock at `bytesPerSecond`, holding
 * clusterLimits.catchUpBurstMs of it (and never less than one full append,
 * so an append of the largest size can always go). Voters are never throttled.
 */
export class CatchUpThrottle implements LearnerBudget {
  private tokens: number;
  private lastMs: number;
  private readonly capacity: number;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly now: () => number = () => systemClock.nowMs(),
  ) {
    this.capacity = Math.max((bytesPerSecond * clusterLimits.catchUpBurstMs) / 1000, raftLimits.appendBytesMax);
    this.tokens = this.capacity;
    this.lastMs = now();
  }

  available(): number {
    const nowMs = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((nowMs - this.lastMs) * this.bytesPerSecond) / 1000);
    this.lastMs = nowMs;
    return Math.floor(this.tokens);
  }

  /** Spending past what is there is debt, repaid before anything more goes. */
  spend(bytes: number): void {
    this.tokens -= bytes;
  }
}
