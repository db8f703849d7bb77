import type { Clock } from '../../transport/clock.js';

interface Task {
  at: number;
  readonly seq: number;
  readonly fn: () => void;
  readonly periodMs: number | null;
  cancelled: boolean;
}

/**
 * A Clock that moves only when a test moves it: timers fire in time order
 * (ties in the order they were set), each at its own instant, so deadlines are
 * tested without waiting on the wall clock.
 */
export class ManualClock implements Clock {
  /** Where epochMs() starts. */
  static readonly epochStartMs = Date.UTC(2026, 0, 1);
  now = 0;
  private seq = 0;
  private tasks: Task[] = [];

  nowMs(): number {
    return this.now;
  }

  epochMs(): number {
    return ManualClock.epochStartMs + this.now;
  }

  after(delayMs: number, fn: () => void): () => void {
    return this.add(delayMs, fn, null);
  }

  every(intervalMs: number, fn: () => void): () => void {
    return this.add(intervalMs, fn, intervalMs);
  }

  /** Timers set and neither fired (once) nor cancelled. */
  get pending(): number {
    return this.tasks.filter((t) => !t.cancelled).length;
  }

  /** Runs every timer due within `ms`, in time order, then stands at now + ms. */
  advance(ms: number): void {
    const end = this.now + ms;
    while (this.runNext(end));
    this.now = end;
  }

  /** As advance, letting promise chains settle after each timer (and running `between` there). */
  async advanceSettling(ms: number, between?: () => Promise<void>): Promise<void> {
    const end = this.now + ms;
    while (this.runNext(end)) {
      await new Promise((resolve) => setImmediate(resolve));
      if (between !== undefined) await between();
    }
    this.now = end;
  }

  private add(delayMs: number, fn: () => void, periodMs: number | null): () => void {
    const task: Task = { at: this.now + delayMs, seq: this.seq++, fn, periodMs, cancelled: false };
    this.tasks.push(task);
    return () => {
      task.cancelled = true;
    };
  }

  /** Fires the earliest timer due by `endMs`, at its instant; false when none is. */
  private runNext(endMs: number): boolean {
    this.tasks = this.tasks.filter((t) => !t.cancelled);
    this.tasks.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const next = this.tasks[0];
    if (next === undefined || next.at > endMs) return false;
    this.now = next.at;
    if (next.periodMs === null) next.cancelled = true;
    else next.at += next.periodMs;
    next.fn();
    return true;
  }
}
