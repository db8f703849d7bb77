import { systemClock } from '../../transport/clock.js';
import { isSkeinError, SkeinError } from '../../transport/errors.js';
import { brokerLimits } from '../../transport/limits.js';
import type { StoppedReplica } from '../../transport/protocol/messages.js';
import { isNoSpace, probeWritable } from '../log/files.js';

export interface StoppedReplicasOptions {
  brokerId: number;
  dataDir: string;
  counters: { storageFailures: number; storageRecoveries: number };
  /** Runs a retry round in line with whatever else opens and closes replicas here (see PartitionHost.exclusive). */
  exclusive: (task: () => Promise<void>) => Promise<void>;
  fatal: (what: string, error: unknown) => void;
}

type Stopped = StoppedReplica & { reopen: () => Promise<void> };

/**
 * The replicas here that their disk stopped (full, most often): each has
 * stopped (no writes, no reads; its group elects another leader) while every
 * other replica goes on. Said once on stderr, shown by describeCluster and the
 * counters, and reopened once the disk takes a probe write again (retried
 * every storageRetryMs).
 */
export class StoppedReplicas {
  /** By Raft group, each with how to reopen it. */
  private readonly byGroup = new Map<string, Stopped>();
  private cancelTimer: (() => void) | null = null;
  private retrying = false;
  /** The stopped replica being reopened now, if any (a failure while reopening is the same episode). */
  private reopening: string | null = null;
  private closed = false;

  constructor(private readonly options: StoppedReplicasOptions) {}

  /** The replica of `group` (named `replica` to the operator) stopped on `error`; `reopen` brings it back. */
  stopped(group: string, replica: string, error: unknown, reopen: () => Promise<void>): void {
    const failure = storageFailure(error);
    this.byGroup.set(group, { replica, code: failure.code, message: failure.message, sinceMs: systemClock.epochMs(), reopen });
    if (this.reopening === group) return;
    this.options.counters.storageFailures++;
    const retryS = brokerLimits.storageRetryMs / 1000;
    process.stderr.write(`skein broker ${this.options.brokerId}: ${replica} stopped: ${failure.message}; the other replicas here go on, and it is retried every ${retryS} s until the disk takes writes again\n`);
    if (this.cancelTimer === null && !this.closed) this.cancelTimer = systemClock.every(brokerLimits.storageRetryMs, () => this.retry(), { keepAlive: false });
  }

  has(group: string): boolean {
    return this.byGroup.has(group);
  }

  /** Forgets a stopped replica (closed for good, or reopened by other means); returns what it had stopped on. */
  forget(group: string): StoppedReplica | undefined {
    const stopped = this.byGroup.get(group);
    this.byGroup.delete(group);
    return stopped;
  }

  /** What describeCluster shows of this broker's storage. */
  status(): StoppedReplica[] {
    return [...this.byGroup.values()].map(({ replica, code, message, sinceMs }) => ({ replica, code, message, sinceMs }));
  }

  close(): void {
    this.closed = true;
    this.stopTimer();
  }

  /** One retry round: reopens the stopped replicas once the disk takes a probe write. */
  private retry(): void {
    if (this.retrying || this.closed) return;
    this.retrying = true;
    this.options
      .exclusive(async () => {
        if (!probeWritable(this.options.dataDir, brokerLimits.storageProbeBytes)) return;
        for (const [group, stopped] of [...this.byGroup]) {
          if (this.closed) return;
          await this.reopen(group, stopped);
        }
      })
      .catch((error: unknown) => this.options.fatal('storage retry', error))
      .finally(() => {
        this.retrying = false;
        if (this.byGroup.size === 0) this.stopTimer();
      });
  }

  private async reopen(group: string, stopped: Stopped): Promise<void> {
    this.byGroup.delete(group);
    this.reopening = group;
    try {
      await stopped.reopen();
      this.options.counters.storageRecoveries++;
      process.stderr.write(`skein broker ${this.options.brokerId}: ${stopped.replica} resumed: the disk takes writes again\n`);
    } catch (error) {
      // Reopening failed before the replica ran: it stays stopped, as it was.
      this.byGroup.set(group, { ...stopped, message: (error as Error)?.message ?? String(error) });
    } finally {
      this.reopening = null;
    }
  }

  private stopTimer(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
  }
}

/** STORAGE_FULL for a full disk, else the storage error as it is. */
export function storageFailure(error: unknown): SkeinError {
  if (isNoSpace(error)) return isSkeinError(error, 'STORAGE_FULL') ? error : new SkeinError('STORAGE_FULL', { message: (error as Error).message, cause: error });
  return error instanceof SkeinError ? error : new SkeinError('STORAGE_FAILED', { message: String(error), cause: error });
}
