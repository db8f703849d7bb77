import { describe, expect, it } from 'vitest';
import { retrying } from '../../sdk/retry.js';
import { SkeinError } from '../../transport/errors.js';
import { sdkLimits } from '../../transport/limits.js';

const far = (): number => performance.now() + 60_000;

describe('retrying', () => {
  it('retries retriable failures and returns the first success', async () => {
    let attempts = 0;
    const result = await retrying({ what: 'x', signal: undefined, deadlineMs: far(), onFailure: () => 'retry' }, async () => {
      if (++attempts < 3) throw new SkeinError('LEADER_NOT_AVAILABLE');
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(attempts).toBe(3);
  });

  it('surfaces a fatal failure at once, as is', async () => {
    let attempts = 0;
    const fatal = new SkeinError('UNKNOWN_TOPIC');
    await expect(
      retrying({ what: 'x', signal: undefined, deadlineMs: far(), onFailure: () => 'fatal' }, async () => {
        attempts++;
        throw fatal;
      }),
    ).rejects.toBe(fatal);
    expect(attempts).toBe(1);
  });

  it('follows redirects without backoff, but only up to redirectsMax in a row without backing off', async () => {
    const times: number[] = [];
    await expect(
      retrying({ what: 'x', signal: undefined, deadlineMs: far(), onFailure: () => 'redirect' }, async () => {
        times.push(Date.now());
        if (times.length > sdkLimits.redirectsMax + 2) return 'done';
        throw new SkeinError('NOT_LEADER');
      }),
    ).resolves.toBe('done');
    expect(times.length).toBe(sdkLimits.redirectsMax + 3);
  });

  it('fails with TIMEOUT carrying the last error once the deadline passes', async () => {
    const last = new SkeinError('LEADER_NOT_AVAILABLE', { message: 'still electing' });
    const error = await retrying({ what: 'produce to t/0', signal: undefined, deadlineMs: performance.now() + 120, onFailure: () => 'retry' }, async () => {
      throw last;
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TIMEOUT' });
    expect((error as SkeinError).cause).toBe(last);
    expect((error as SkeinError).message).toMatch(/produce to t\/0.*LEADER_NOT_AVAILABLE: still electing/);
  });

  it('aborts with the signal reason, during an attempt or a backoff', async () => {
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    const during = retrying({ what: 'x', signal: controller.signal, deadlineMs: far(), onFailure: () => 'retry' }, (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))));
    setTimeout(() => controller.abort(reason), 5);
    await expect(during).rejects.toBe(reason);

    const second = new AbortController();
    const inBackoff = retrying({ what: 'x', signal: second.signal, deadlineMs: far(), onFailure: () => 'retry' }, async () => {
      setTimeout(() => second.abort(reason), 1);
      throw new SkeinError('TIMEOUT');
    });
    await expect(inBackoff).rejects.toBe(reason);

    const already = AbortSignal.abort(reason);
    await expect(retrying({ what: 'x', signal: already, deadlineMs: far(), onFailure: () => 'retry' }, async () => 1)).rejects.toBe(reason);
  });

  it('gives up after retriesMax retries with the last error', async () => {
    let attempts = 0;
    const error = await retrying({ what: 'x', signal: undefined, deadlineMs: far(), onFailure: () => 'retry', retriesMax: 3 }, async () => {
      attempts++;
      throw new SkeinError('BACKPRESSURE');
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BACKPRESSURE' });
    expect(attempts).toBe(4);
  });

  it('waits the retryAfterMs of a THROTTLED answer; one that outlasts the deadline ends at the deadline without another attempt', async () => {
    const times: number[] = [];
    const result = await retrying({ what: 'x', signal: undefined, deadlineMs: far(), onFailure: () => 'retry' }, async (_signal, n) => {
      times.push(performance.now());
      if (n === 1) throw new SkeinError('THROTTLED', { details: { retryAfterMs: 80 } });
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(79);

    let attempts = 0;
    const throttled = new SkeinError('THROTTLED', { details: { retryAfterMs: 20_000 } });
    const error = await retrying({ what: 'initProducer', signal: undefined, deadlineMs: performance.now() + 100, onFailure: () => 'retry' }, async () => {
      attempts++;
      throw throttled;
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TIMEOUT' });
    expect((error as SkeinError).cause).toBe(throttled);
    expect(attempts).toBe(1);
  });
});
