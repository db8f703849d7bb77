import { sleep } from './abort.js';
import { isSkeinError } from './errors.js';
import { transportLimits } from './limits.js';

/**
 * The one retry mechanism of skein, used by the SDK (requests, the producer's
 * pipeline) and by the broker (its own metadata commands). What differs
 * between them is policy (the limits) and judgement (what a failure means),
 * both passed in; how attempts, redirects and backoff follow one another is
 * written once, here.
 */

/**
 * What a failed attempt means for the next one:
 * - 'redirect': we learnt where to go (a NOT_LEADER hint we trust): go again at once;
 * - 'retry': transient trouble (no leader yet, a dead connection, a timeout): back off, then go again;
 * - 'fatal': the error is the answer.
 */
export type Verdict = 'redirect' | 'retry' | 'fatal';

export interface RetryPolicy {
  /** Attempts that failed and backed off, after which the last error is the answer (Infinity: until the signal aborts). */
  readonly retriesMax: number;
  /** 'redirect' verdicts in one loop that go again at once, using no retry; beyond them a redirect backs off as a retry does. */
  readonly redirectsMax: number;
  /**
   * The first backoff; each retry doubles it, up to backoffMsMax. Every wait is randomised x1-2 (jitter) so
   * that clients that failed together (a leader died under all of them) do not come back together.
   */
  readonly backoffMsMin: number;
  readonly backoffMsMax: number;
}

export interface RetryLoopOptions {
  policy: RetryPolicy;
  /** Aborting ends the loop at once, also during a backoff: it rejects with `signal.reason`. */
  signal: AbortSignal;
  /**
   * Judges a failed attempt (and updates whatever the caller learns from it); must not throw. 'progressed': the
   * attempt got part of its work done (a pipeline's batches were acknowledged before one failed): the next one
   * goes at once and uses no retry.
   */
  onFailure: (error: unknown, attemptNumber: number) => Verdict | 'progressed';
  /** Jitter source in [0, 1); Math.random by default. */
  random?: () => number;
  /** The longest the next wait may last (what is left of the caller's deadline); unbounded by default. */
  waitMsMax?: () => number;
}

/**
 * Runs `attempt` until it resolves, a failure is fatal, the retries run out
 * (rejecting with the last failure, as it was thrown) or the signal aborts.
 */
export async function retryLoop<T>(options: RetryLoopOptions, attempt: (attemptNumber: number) => Promise<T>): Promise<T> {
  const { policy, signal } = options;
  let retries = 0;
  let redirects = 0;
  for (let attemptNumber = 1; ; attemptNumber++) {
    signal.throwIfAborted();
    let failure: unknown;
    try {
      const result = await attempt(attemptNumber);
      // An abort wins over an answer that came too late to matter.
      signal.throwIfAborted();
      return result;
    } catch (error) {
      failure = error;
    }
    signal.throwIfAborted();
    const verdict = options.onFailure(failure, attemptNumber);
    if (verdict === 'fatal') throw failure;
    const free = verdict === 'progressed' || (verdict === 'redirect' && ++redirects <= policy.redirectsMax);
    if (retries >= policy.retriesMax) throw failure;
    if (free) continue;
    const waitMs = retryWaitMs(policy, retries, failure, options.random ?? Math.random);
    await sleep(Math.max(0, Math.min(waitMs, options.waitMsMax?.() ?? Infinity)), signal);
    retries++;
  }
}

/**
 * The wait before retry number `retries` + 1 after `failure`: the backoff, or longer when the failure says
 * how long to wait (THROTTLED's details.retryAfterMs: coming back sooner is refused again, and spends the
 * retries). A server's word is taken up to retryAfterMsMax.
 */
export function retryWaitMs(policy: Pick<RetryPolicy, 'backoffMsMin' | 'backoffMsMax'>, retries: number, failure: unknown, random: () => number): number {
  const backoff = backoffMs(policy, retries, random);
  const retryAfterMs = isSkeinError(failure) ? failure.details?.['retryAfterMs'] : undefined;
  if (typeof retryAfterMs !== 'number' || !Number.isFinite(retryAfterMs) || retryAfterMs < 0) return backoff;
  return Math.max(backoff, Math.min(Math.ceil(retryAfterMs), transportLimits.retryAfterMsMax));
}

/** The wait before retry number `retries` + 1. */
export function backoffMs(policy: Pick<RetryPolicy, 'backoffMsMin' | 'backoffMsMax'>, retries: number, random: () => number): number {
  return Math.min(Math.round((1 + random()) * policy.backoffMsMin * 2 ** retries), policy.backoffMsMax);
}
