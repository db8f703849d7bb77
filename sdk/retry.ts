import { systemClock } from '../transport/clock.js';
import { SkeinError, isSkeinError } from '../transport/errors.js';
import { sdkLimits } from '../transport/limits.js';
import { type RetryPolicy, type Verdict, retryLoop } from '../transport/retry.js';
import { withTimeout } from '../transport/abort.js';

export type { Verdict } from '../transport/retry.js';

/** How every retry of the SDK backs off and how far it goes (transport/retry.ts runs the loop). */
export const sdkRetryPolicy: RetryPolicy = {
  retriesMax: sdkLimits.retriesMax,
  redirectsMax: sdkLimits.redirectsMax,
  backoffMsMin: sdkLimits.retryBackoffMsMin,
  backoffMsMax: sdkLimits.retryBackoffMsMax,
};

export interface RetryOptions {
  /** Names the operation in the TIMEOUT error ("produce to orders/3"). */
  what: string;
  /** The caller's signal: aborting rejects with its reason, as is. */
  signal: AbortSignal | undefined;
  /** Instant on the monotonic clock (systemClock.nowMs) after which the call fails with TIMEOUT carrying the last error as cause. */
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
  const timeout = (): SkeinError => new SkeinError('TIMEOUT', { message: `${options.what} did not finish before its deadline` });
  const remainingMs = options.deadlineMs - systemClock.nowMs();
  // A deadline already passed allows no attempt (a timer would fire only after one had started).
  const { signal, dispose } = remainingMs > 0 || options.signal?.aborted === true ? withTimeout(options.signal, remainingMs, timeout) : { signal: AbortSignal.abort(timeout()), dispose: () => {} };
  let lastError: unknown;
  let attempts = 0;
  const policy = options.retriesMax === undefined ? sdkRetryPolicy : { ...sdkRetryPolicy, retriesMax: options.retriesMax };
  try {
    return await retryLoop({ policy, signal, onFailure: options.onFailure }, async (attemptNumber) => {
      attempts = attemptNumber;
      try {
        return await attempt(signal, attemptNumber);
      } catch (error) {
        lastError = error;
        throw error;
      }
    });
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
