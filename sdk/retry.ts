import pRetry from 'p-retry';
import { SkeinError, isSkeinError } from '../transport/errors.js';
import { sdkLimits } from '../transport/limits.js';
import { deadlineSignal } from './abort.js';

/** The backoff every retry loop of the SDK uses: exponential, capped, with jitter (x1-2). */
export const backoff = {
  minTimeout: sdkLimits.retryBackoffMsMin,
  maxTimeout: sdkLimits.retryBackoffMsMax,
  factor: 2,
  randomize: true,
} as const;

/**
 * What a failed attempt means for the next one:
 * - 'redirect': we learnt where to go (a NOT_LEADER hint we trust): retry at once;
 * - 'retry': transient (no leader yet, dead connection, timeout): back off, then retry;
 * - 'fatal': the error is the answer; surface it now.
 */
export type Verdict = 'redirect' | 'retry' | 'fatal';

export interface RetryOptions {
  /** Names the operation in the TIMEOUT error ("produce to orders/3"). */
  what: string;
  /** The caller's signal: aborting rejects with its reason, as is. */
  signal: AbortSignal | undefined;
  /** Date.now() instant after which the call fails with TIMEOUT carrying the last error as cause. */
  deadlineMs: number;
  /** Classifies a failure and updates routing state (metadata, hints); must not throw. */
  onFailure: (error: unknown) => Verdict;
  /** Retries before giving up with the last error; default sdkLimits.retriesMax. */
  retriesMax?: number;
}

/**
 * Runs `attempt` until it succeeds, a failure is fatal, retries run out, the
 * deadline passes, or the signal aborts. Applications see leader changes as
 * latency, never as errors, unless the deadline passes.
 *
 * `attempt` receives a signal that aborts at the deadline or with the caller's
 * signal; pass it down to every request.
 */
export async function retrying<T>(options: RetryOptions, attempt: (signal: AbortSignal, attemptNumber: number) => Promise<T>): Promise<T> {
  const { signal, dispose } = deadlineSignal({ signals: [options.signal], deadlineMs: options.deadlineMs, what: options.what });
  let lastError: unknown;
  let attempts = 0;
  let redirects = 0;
  let verdict: Verdict = 'fatal';
  try {
    return await pRetry(
      async (attemptNumber) => {
        attempts = attemptNumber;
        try {
          return await attempt(signal, attemptNumber);
        } catch (error) {
          lastError = error;
          if (signal.aborted) throw error;
          verdict = options.onFailure(error);
          // p-retry refuses to retry non-Errors (as TypeErrors); keep the original for the caller.
          throw error instanceof Error ? error : new SkeinError('INTERNAL', { message: String(error), cause: error });
        }
      },
      {
        ...backoff,
        retries: options.retriesMax ?? sdkLimits.retriesMax,
        signal,
        // A trusted hint is a redirect, not a failure: no backoff and no retry consumed, up to a bound.
        shouldConsumeRetry: () => !(verdict === 'redirect' && ++redirects <= sdkLimits.redirectsMax),
        shouldRetry: () => verdict !== 'fatal' && !signal.aborted,
      },
    );
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (signal.aborted) {
      throw new SkeinError('TIMEOUT', {
        message: `${options.what} did not finish before its deadline (${attempts} attempt${attempts === 1 ? '' : 's'}; last error: ${describeError(lastError)})`,
        cause: lastError,
      });
    }
    throw lastError ?? error;
  } finally {
    dispose();
  }
}

export function describeError(error: unknown): string {
  if (isSkeinError(error)) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}
