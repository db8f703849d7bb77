import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FirstContact } from '../../sdk/bootstrap.js';
import { SkeinError } from '../../transport/errors.js';
import { sdkLimits } from '../../transport/limits.js';

const addresses = [1, 2, 3].map((n) => ({ host: `10.0.0.${n}`, port: 9092 }));

/** A connect whose dials the test answers, remembering when each started. */
function dials() {
  const started: Array<{ host: string; atMs: number; timeoutMs: number }> = [];
  const pending = new Map<string, { resolve: () => void; reject: (error: unknown) => void }>();
  const connect = (address: { host: string }, timeoutMs: number): Promise<unknown> => {
    started.push({ host: address.host, atMs: Date.now(), timeoutMs });
    return new Promise<void>((resolve, reject) => pending.set(address.host, { resolve, reject }));
  };
  return { started, connect, answer: (host: string) => pending.get(host)!.resolve(), fail: (host: string, error: unknown) => pending.get(host)!.reject(error) };
}

describe('the first contact at the edge of bootstrapHedgeMs', () => {
  beforeEach(() => vi.useFakeTimers({ now: 0 }));
  afterEach(() => vi.useRealTimers());

  it('dials the next bootstrap broker when a dial has gone unanswered for exactly bootstrapHedgeMs, not a millisecond before', async () => {
    const d = dials();
    const contact = new FirstContact({ addresses, connect: d.connect, timeoutMs: 5_000 });
    const reached = contact.ensure();
    await vi.advanceTimersByTimeAsync(sdkLimits.bootstrapHedgeMs - 1);
    expect(d.started.map((s) => s.host)).toEqual(['10.0.0.1']);
    await vi.advanceTimersByTimeAsync(1);
    expect(d.started.map((s) => s.host)).toEqual(['10.0.0.1', '10.0.0.2']);
    // Each dial is given what is left of the window when it starts.
    expect(d.started.map((s) => s.timeoutMs)).toEqual([5_000, 5_000 - sdkLimits.bootstrapHedgeMs]);
    d.answer('10.0.0.2');
    await reached;
    expect(contact.reached).toBe(true);
    await vi.advanceTimersByTimeAsync(10 * sdkLimits.bootstrapHedgeMs);
    expect(d.started).toHaveLength(2);
  });

  it('starts no dial once the window has run out, and names the addresses never dialled', async () => {
    const d = dials();
    const timeoutMs = 2 * sdkLimits.bootstrapHedgeMs;
    const contact = new FirstContact({ addresses, connect: d.connect, timeoutMs });
    const failed = contact.ensure().catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(timeoutMs);
    expect(d.started.map((s) => s.host)).toEqual(['10.0.0.1', '10.0.0.2']);
    const timeout = new SkeinError('TIMEOUT', { message: 'no answer' });
    d.fail('10.0.0.1', timeout);
    d.fail('10.0.0.2', timeout);
    const error = (await failed) as SkeinError;
    expect(error.code).toBe('NO_BROKERS_REACHABLE');
    expect((error.details!.brokers as Array<{ message: string }>)[2]!.message).toBe(`not dialled: the ${timeoutMs} ms ran out first`);
  });
});
