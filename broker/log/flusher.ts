import { fdatasync } from 'node:fs';
import type { SkeinError } from '../../transport/errors.js';
import { storageError } from './files.js';
import type { Segment } from './segment.js';

/** A point of the log: the last entry index and the offset after it. */
export interface LogPoint {
  index: number;
  offset: number;
}

interface Waiter {
  resolve: () => void;
  reject: (error: SkeinError) => void;
}

/**
 * Group commit. flush() resolves once everything appended before the call is
 * on disk. One fdatasync runs at a time in the thread pool; callers arriving
 * while it runs share the next one, so N concurrent flushes cost at most two
 * fsyncs, and the event loop never blocks on the disk.
 *
 * Only the active segment needs syncing here: rolling syncs the old segment
 * before the next one is created, so every older segment is durable already.
 * A failed fsync leaves the file's state unknown (the kernel may have dropped
 * the dirty pages), so it fails the whole log rather than retrying.
 */
export class Flusher {
  durable: LogPoint;
  private running: { target: LogPoint; waiters: Waiter[] } | null = null;
  private queued: Waiter[] | null = null;

  constructor(
    initial: LogPoint,
    private readonly host: {
      /** The end of the log now and the segment holding it. */
      end(): { point: LogPoint; segment: Segment };
      onDurable(point: LogPoint): void;
      onFailure(error: SkeinError): void;
    },
  ) {
    this.durable = { ...initial };
  }

  flush(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject };
      if (this.running !== null) {
        (this.queued ??= []).push(waiter);
        return;
      }
      this.start([waiter]);
    });
  }

  /**
   * After a truncation or reset: nothing past `point` may be called durable,
   * including what an fsync already in flight was going to confirm.
   */
  clamp(point: LogPoint): void {
    if (this.durable.index > point.index) this.durable = { ...point };
    const target = this.running?.target;
    if (target !== undefined && target.index > point.index) this.running!.target = { ...point };
  }

  /** Declares `point` durable outright (a reset that fsynced its new segment synchronously). */
  assumeDurable(point: LogPoint): void {
    this.durable = { ...point };
  }

  private start(waiters: Waiter[]): void {
    const { point, segment } = this.host.end();
    if (point.index === this.durable.index && point.offset === this.durable.offset) {
      for (const waiter of waiters) waiter.resolve();
      return;
    }
    const fd = segment.open();
    segment.pendingSyncs++;
    this.running = { target: { ...point }, waiters };
    fdatasync(fd, (error) => {
      segment.syncSettled();
      const running = this.running!;
      this.running = null;
      if (error !== null) {
        const failure = storageError('fsync', segment.path, error);
        this.host.onFailure(failure);
        for (const waiter of [...running.waiters, ...(this.queued ?? [])]) waiter.reject(failure);
        this.queued = null;
        return;
      }
      if (running.target.index > this.durable.index || running.target.offset > this.durable.offset) {
        this.durable = running.target;
        this.host.onDurable(this.durable);
      }
      for (const waiter of running.waiters) waiter.resolve();
      const next = this.queued;
      this.queued = null;
      if (next !== null) this.start(next);
    });
  }
}
