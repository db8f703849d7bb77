import { describe, expect, it } from 'vitest';
import { SkeinError } from '../../transport/errors.js';
import { transportLimits } from '../../transport/limits.js';
import { type RetryPolicy, type Verdict, backoffMs, retryLoop, retryWaitMs } from '../../transport/retry.js';

/** Waits of a millisecond or two: the tests count attempts, not time. */
const quick: RetryPolicy = { retriesMax: 3, redirectsMax: 2, backoffMsMin: 1, backoffMsMax: 2 };

/** Attempts that fail with the given verdicts in turn, then succeed; records every attempt number. */
function scripted(verdicts: (Verdict | 'progressed')[]): { attempt: (n: number) => Promise<string>; onFailure: () => Verdict | 'progressed'; attempts: number[] } {
  const attempts: number[] = [];
  let judged = 0;
  return {
    attempts,
    attempt: async (n) => {
      attempts.push(n);
      if (attempts.length > verdicts.length) return 'done';
      throw new SkeinError('LEADER_NOT_AVAILABLE', { message: `failure ${n}` });
    },
    onFailure: () => verdicts[judged++]!,
  };
}

describe('retryLoop', () => {
  it('backs off retriesMax times, then rejects with the last failure as thrown', async () => {
    const run = scripted(Array<Verdict>(10).fill('retry'));
    await expect(retryLoop({ policy: quick, signal: new AbortController().signal, onFailure: run.onFailure }, run.attempt)).rejects.toThrow('failure 4');
    expect(run.attempts).toEqual([1, 2, 3, 4]);
  });

  it('succeeds on the attempt after retriesMax failures: the limit at its edge', async () => {
    const run = scripted(Array<Verdict>(quick.retriesMax).fill('retry'));
    await expect(retryLoop({ policy: quick, signal: new AbortController().signal, onFailure: run.onFailure }, run.attempt)).resolves.toBe('done');
    expect(run.attempts.length).toBe(quick.retriesMax + 1);
  });

  it('a fatal verdict ends the loop at once', async () => {
    const run = scripted(['retry', 'fatal', 'retry']);
    await expect(retryLoop({ policy: quick, signal: new AbortController().signal, onFailure: run.onFailure }, run.attempt)).rejects.toThrow('failure 2');
    expect(run.attempts).toEqual([1, 2]);
  });

  it('follows redirectsMax redirects without using a retry; beyond them a redirect is a retry', async () => {
    // 2 free redirects, then 3 redirects that each use a retry: the third of those is the fourth failure with retries left at 0.
    const run = scripted(['redirect', 'redirect', 'redirect', 'redirect', 'redirect', 'redirect']);
    await expect(retryLoop({ policy: quick, signal: new AbortController().signal, onFailure: run.onFailure }, run.attempt)).rejects.toThrow('failure 6');
    expect(run.attempts).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('an attempt that progressed goes again without using a retry', async () => {
    const run = scripted(['progressed', 'progressed', 'progressed', 'progressed', 'progressed', 'retry', 'retry']);
    await expect(retryLoop({ policy: quick, signal: new AbortController().signal, onFailure: run.onFailure }, run.attempt)).resolves.toBe('done');
    expect(run.attempts.length).toBe(8);
  });

  it('an abort during the backoff rejects with the reason, and no attempt follows', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    const attempts: number[] = [];
    const policy = { ...quick, backoffMsMin: 60_000, backoffMsMax: 60_000 };
    const loop = retryLoop({ policy, signal: controller.signal, onFailure: () => 'retry' }, async (n) => {
      attempts.push(n);
      setTimeout(() => controller.abort(reason), 1);
      throw new SkeinError('TIMEOUT');
    });
    await expect(loop).rejects.toBe(reason);
    expect(attempts).toEqual([1]);
  });

  it('backs off from min, doubling per retry, up to max, with jitter x1-2', () => {
    const policy = { ...quick, backoffMsMin: 100, backoffMsMax: 2_000 };
    expect([0, 1, 2, 3, 4, 5].map((retries) => backoffMs(policy, retries, () => 0))).toEqual([100, 200, 400, 800, 1_600, 2_000]);
    expect([0, 1, 2, 3].map((retries) => backoffMs(policy, retries, () => 0.999_999))).toEqual([200, 400, 800, 1_600]);
    expect(backoffMs(policy, 5_000, () => 0.5)).toBe(2_000);
  });

  it('waits at least the retryAfterMs a failure carries (THROTTLED), not the shorter backoff', async () => {
    const times: number[] = [];
    const result = await retryLoop({ policy: quick, signal: new AbortController().signal, onFailure: () => 'retry' }, async (n) => {
      times.push(performance.now());
      if (n === 1) throw new SkeinError('THROTTLED', { details: { retryAfterMs: 80 } });
      return 'done';
    });
    expect(result).toBe('done');
    // Timers fire no earlier than asked (to the millisecond).
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(79);
  });

  it('the wait is the larger of backoff and retryAfterMs, within retryAfterMsMax; a retryAfterMs that is not a wait is ignored', () => {
    const policy = { ...quick, backoffMsMin: 100, backoffMsMax: 2_000 };
    const throttled = (retryAfterMs: unknown): SkeinError => new SkeinError('THROTTLED', { details: { retryAfterMs } });
    const max = transportLimits.retryAfterMsMax;
    expect(retryWaitMs(policy, 0, throttled(50), () => 0)).toBe(100);
    expect(retryWaitMs(policy, 0, throttled(150), () => 0)).toBe(150);
    expect(retryWaitMs(policy, 0, throttled(max), () => 0)).toBe(max);
    expect(retryWaitMs(policy, 0, throttled(max + 1), () => 0)).toBe(max);
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, '5000', null]) expect(retryWaitMs(policy, 0, throttled(bad), () => 0)).toBe(100);
    expect(retryWaitMs(policy, 0, new Error('plain'), () => 0)).toBe(100);
  });

  it('a wait never outlasts waitMsMax (what is left of the caller\'s deadline)', async () => {
    const times: number[] = [];
    await retryLoop({ policy: quick, signal: new AbortController().signal, onFailure: () => 'retry', waitMsMax: () => 5 }, async (n) => {
      times.push(performance.now());
      if (n === 1) throw new SkeinError('THROTTLED', { details: { retryAfterMs: transportLimits.retryAfterMsMax } });
      return 'done';
    });
    expect(times.length).toBe(2);
  });
});
