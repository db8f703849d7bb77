import { systemClock } from '../transport/clock.js';
import { isSkeinError } from '../transport/errors.js';

/** What an attempt returns when it asked nothing (its candidate was already asked, or is closed): the next starts at once. */
export const notAsked: unique symbol = Symbol('notAsked');

export interface HedgeOptions<T> {
  /** How many candidates there are; attempt(i) is called at most once for each i, in order. */
  count: number;
  /** How long an attempt may go unanswered before the next starts beside it. */
  hedgeMs: number;
  /** Tries candidate `i`; `settled()` says whether the race has been decided meanwhile (then there is nothing more to ask). */
  attempt(i: number, settled: () => boolean): Promise<T | typeof notAsked>;
  /** Whether another attempt may start now (false once a deadline has passed); always when absent. */
  mayStart?(): boolean;
  /** Attempt `i` failed with a retriable error (a non-retriable SkeinError is the answer itself). */
  failed?(i: number, error: unknown): void;
  /** The error when no attempt answered and none may start. */
  exhausted(): unknown;
}

/**
 * A hedged race over candidates in order: the next one starts whenever an
 * attempt fails or has gone unanswered for `hedgeMs`, and the first answer
 * wins. A live candidate is found in one try (no request to every one of a
 * long list), and a paused or dead one costs `hedgeMs`, not a timeout. The
 * SDK's first contact with the cluster and its metadata refreshes use it.
 */
export function hedged<T>(options: HedgeOptions<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let next = 0;
    let running = 0;
    let done = false;
    let cancelHedge = (): void => {};
    const settle = (outcome: { answer: T } | { error: unknown }): void => {
      if (done) return;
      done = true;
      cancelHedge();
      if ('answer' in outcome) resolve(outcome.answer);
      else reject(outcome.error);
    };
    const start = (): void => {
      cancelHedge();
      if (done) return;
      if (next >= options.count || options.mayStart?.() === false) {
        if (running === 0) settle({ error: options.exhausted() });
        return;
      }
      const i = next++;
      running++;
      options.attempt(i, () => done).then(
        (answer) => {
          running--;
          if (answer === notAsked) start();
          else settle({ answer });
        },
        (error: unknown) => {
          running--;
          if (isSkeinError(error) && !error.retriable) return settle({ error });
          options.failed?.(i, error);
          start();
        },
      );
      cancelHedge = systemClock.after(options.hedgeMs, start);
    };
    start();
  });
}
