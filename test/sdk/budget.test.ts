import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../sdk/producer/budget.js';
import { SkeinError } from '../../transport/errors.js';

const far = (): number => performance.now() + 60_000;

describe('ByteBudget', () => {
  it('grants while there is room and makes later callers wait, first come first served', async () => {
    const budget = new ByteBudget(100);
    await budget.acquire(60, { deadlineMs: far() });
    const order: string[] = [];
    const big = budget.acquire(80, { deadlineMs: far() }).then(() => order.push('big'));
    const small = budget.acquire(10, { deadlineMs: far() }).then(() => order.push('small'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual([]); // small fits, but must not overtake big
    expect(budget.waiting).toBe(2);
    budget.release(60);
    await Promise.all([big, small]);
    expect(order).toEqual(['big', 'small']);
    expect(budget.used).toBe(90);
    expect(budget.highWaterBytes).toBe(90);
  });

  it('rejects what can never fit, aborts with the signal reason, times out at the deadline', async () => {
    const budget = new ByteBudget(100);
    await expect(budget.acquire(101, { deadlineMs: far() })).rejects.toMatchObject({ code: 'RECORD_TOO_LARGE' });
    await budget.acquire(100, { deadlineMs: far() });
    const controller = new AbortController();
    const reason = new Error('mine');
    const aborted = budget.acquire(1, { signal: controller.signal, deadlineMs: far() });
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    await expect(budget.acquire(1, { deadlineMs: performance.now() + 5 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(budget.waiting).toBe(0);
    expect(budget.used).toBe(100);
  });

  it('a waiter leaving lets the ones behind it in', async () => {
    const budget = new ByteBudget(100);
    await budget.acquire(50, { deadlineMs: far() });
    const controller = new AbortController();
    const head = budget.acquire(90, { signal: controller.signal, deadlineMs: far() });
    const behind = budget.acquire(40, { deadlineMs: far() });
    controller.abort(new Error('gone'));
    await expect(head).rejects.toThrow('gone');
    await behind;
    expect(budget.used).toBe(90);
  });

  it('close fails waiters and later calls; releasing more than held is a bug', async () => {
    const budget = new ByteBudget(10);
    await budget.acquire(10, { deadlineMs: far() });
    const waiting = budget.acquire(5, { deadlineMs: far() });
    const closed = new SkeinError('CLIENT_CLOSED');
    budget.close(closed);
    await expect(waiting).rejects.toBe(closed);
    await expect(budget.acquire(1, { deadlineMs: far() })).rejects.toBe(closed);
    expect(() => budget.release(11)).toThrow(/only 10 are held/);
  });
});
