import type { Clock } from '../../transport/clock.js';
import { SkeinError } from '../../transport/errors.js';
import type { Proposed } from './core/raft.js';
import type { Entry } from './core/types.js';

/**
 * Callers waiting on the log: proposers until their entry is applied (or
 * provably lost), readers until their read index is applied. Every wait is
 * bounded by a deadline and can be aborted by a signal.
 */

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

function settleable<T>(
  clock: Clock,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  onDone: () => void,
  describe: string,
): { promise: Promise<T>; waiter: Waiter<T> } {
  let resolveOuter!: (value: T) => void;
  let rejectOuter!: (error: unknown) => void;
  const promise = new Promise<T>((resolve, reject) => {
    resolveOuter = resolve;
    rejectOuter = reject;
  });
  let settled = false;
  const cleanup = (): void => {
    settled = true;
    cancelTimer();
    signal?.removeEventListener('abort', onAbort);
    onDone();
  };
  const onAbort = (): void => {
    if (settled) return;
    cleanup();
    rejectOuter(signal!.reason);
  };
  const onTimeout = (): void => {
    if (settled) return;
    cleanup();
    rejectOuter(new SkeinError('TIMEOUT', { message: `${describe} did not complete within ${timeoutMs} ms; its outcome is unknown` }));
  };
  const cancelTimer = clock.after(timeoutMs, onTimeout, { keepAlive: false });
  signal?.addEventListener('abort', onAbort, { once: true });
  return {
    promise,
    waiter: {
      resolve: (value) => {
        if (settled) return;
        cleanup();
        resolveOuter(value);
      },
      reject: (error) => {
        if (settled) return;
        cleanup();
        rejectOuter(error);
      },
    },
  };
}

export class ProposalWaiters {
  private readonly byIndex = new Map<number, Array<Waiter<Proposed> & { term: number }>>();
  private count = 0;

  constructor(private readonly clock: Clock, private readonly timeoutMs: number) {}

  get size(): number {
    return this.count;
  }

  wait(proposed: Proposed, signal?: AbortSignal): Promise<Proposed> {
    let entry: (Waiter<Proposed> & { term: number }) | undefined;
    const { promise, waiter } = settleable<Proposed>(this.clock, this.timeoutMs, signal, () => this.remove(proposed.index, entry!), `proposal at index ${proposed.index}`);
    entry = { ...waiter, term: proposed.term };
    const list = this.byIndex.get(proposed.index) ?? [];
    list.push(entry);
    this.byIndex.set(proposed.index, list);
    this.count++;
    return promise;
  }

  private remove(index: number, entry: Waiter<Proposed> & { term: number }): void {
    const list = this.byIndex.get(index);
    if (list === undefined) return;
    const at = list.indexOf(entry);
    if (at < 0) return;
    list.splice(at, 1);
    this.count--;
    if (list.length === 0) this.byIndex.delete(index);
  }

  /** An entry was applied: its proposer succeeded if the term matches, else its proposal was overwritten. */
  applied(entry: Entry): void {
    const list = this.byIndex.get(entry.index);
    if (list === undefined) return;
    for (const w of [...list]) {
      if (w.term === entry.term) w.resolve({ index: entry.index, term: entry.term });
      else w.reject(new SkeinError('PROPOSAL_DROPPED', { details: { index: entry.index, term: w.term } }));
    }
  }

  /** A snapshot replaced the log through `index`: proposals it covers have an unknown fate. */
  coveredBySnapshot(index: number): void {
    for (const [at, list] of [...this.byIndex]) {
      if (at > index) continue;
      for (const w of [...list]) {
        w.reject(new SkeinError('TIMEOUT', { message: `proposal at index ${at} was covered by a snapshot; its outcome is unknown` }));
      }
    }
  }

  /**
   * This replica no longer leads in `leadingTerm` (0: not at all): proposals of its other leaderships
   * are answered now with `error`. Their entries may yet commit under the next leader, or be
   * overwritten; nobody here would learn which before the deadline, so the caller is told at once
   * that the outcome is unknown and resends (an idempotent producer's resend is recognised).
   */
  deposed(leadingTerm: number, error: () => SkeinError): void {
    if (this.count === 0) return;
    for (const list of [...this.byIndex.values()]) for (const w of [...list]) if (w.term !== leadingTerm) w.reject(error());
  }

  rejectAll(error: SkeinError): void {
    for (const list of [...this.byIndex.values()]) for (const w of [...list]) w.reject(error);
  }
}

export class ReadWaiters {
  private readonly byId = new Map<string, Waiter<number> & { index: number | null }>();

  constructor(private readonly clock: Clock, private readonly timeoutMs: number) {}

  get size(): number {
    return this.byId.size;
  }

  wait(requestId: string, signal?: AbortSignal): Promise<number> {
    const { promise, waiter } = settleable<number>(this.clock, this.timeoutMs, signal, () => this.byId.delete(requestId), `read ${requestId}`);
    this.byId.set(requestId, { ...waiter, index: null });
    return promise;
  }

  /** Leadership was confirmed for the read: it completes once `applied` reaches `index`. */
  confirmed(requestId: string, index: number, applied: number): void {
    const w = this.byId.get(requestId);
    if (w === undefined) return;
    w.index = index;
    if (applied >= index) w.resolve(index);
  }

  applied(applied: number): void {
    for (const w of [...this.byId.values()]) if (w.index !== null && applied >= w.index) w.resolve(w.index);
  }

  rejectAll(error: SkeinError): void {
    for (const w of [...this.byId.values()]) w.reject(error);
  }
}
