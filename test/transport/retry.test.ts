import { describe, expect, it } from 'vitest';
import { SkeinError } from '../../transport/errors.js';
import { type RetryPolicy, type Verdict, backoffMs, retryLoop } from '../../transport/retry.js';

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
});
