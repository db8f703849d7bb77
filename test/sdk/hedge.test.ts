import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SkeinError } from '../../transport/errors.js';
import { hedged, notAsked } from '../../sdk/hedge.js';

/** A candidate that answers, fails or asks nothing when the test says so. */
function candidates(count: number) {
  const started: number[] = [];
  const settle = new Map<number, { resolve: (value: string | typeof notAsked) => void; reject: (error: unknown) => void }>();
  const attempt = (i: number): Promise<string | typeof notAsked> => {
    started.push(i);
    return new Promise((resolve, reject) => settle.set(i, { resolve, reject }));
  };
  return { count, started, attempt, answer: (i: number, value: string | typeof notAsked) => settle.get(i)!.resolve(value), fail: (i: number, error: unknown) => settle.get(i)!.reject(error) };
}

const hedgeMs = 250;
const exhausted = new SkeinError('NO_BROKERS_REACHABLE', { message: 'none answered' });

describe('hedged', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('asks one candidate while it answers in time, and starts the next beside it once an answer is overdue', async () => {
    const c = candidates(3);
    const first = hedged({ count: 3, hedgeMs, attempt: c.attempt, exhausted: () => exhausted });
    c.answer(0, 'a');
    await expect(first).resolves.toBe('a');
    expect(c.started).toEqual([0]);

    const d = candidates(3);
    const second = hedged({ count: 3, hedgeMs, attempt: d.attempt, exhausted: () => exhausted });
    await vi.advanceTimersByTimeAsync(hedgeMs - 1);
    expect(d.started).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(d.started).toEqual([0, 1]);
    d.answer(1, 'b');
    d.answer(0, 'late');
    await expect(second).resolves.toBe('b');
    await vi.advanceTimersByTimeAsync(10 * hedgeMs);
    expect(d.started).toEqual([0, 1]);
  });

  it('starts the next at once after a retriable failure or a candidate that asked nothing, and fails with exhausted() when none answered', async () => {
    const c = candidates(3);
    const failures: Array<[number, unknown]> = [];
    const race = hedged({ count: 3, hedgeMs, attempt: c.attempt, failed: (i, error) => failures.push([i, error]), exhausted: () => exhausted });
    const rejected = expect(race).rejects.toBe(exhausted);
    const timeout = new SkeinError('TIMEOUT', { message: 'no answer' });
    c.fail(0, timeout);
    await vi.advanceTimersByTimeAsync(0);
    expect(c.started).toEqual([0, 1]);
    c.answer(1, notAsked);
    await vi.advanceTimersByTimeAsync(0);
    expect(c.started).toEqual([0, 1, 2]);
    c.fail(2, new Error('socket closed'));
    await rejected;
    expect(failures.map(([i]) => i)).toEqual([0, 2]);
  });

  it('takes a non-retriable error as the answer, starting nothing more', async () => {
    const c = candidates(3);
    const race = hedged({ count: 3, hedgeMs, attempt: c.attempt, exhausted: () => exhausted });
    const refused = new SkeinError('UNSUPPORTED_VERSION', { message: 'upgrade' });
    c.fail(0, refused);
    await expect(race).rejects.toBe(refused);
    await vi.advanceTimersByTimeAsync(10 * hedgeMs);
    expect(c.started).toEqual([0]);
  });

  it('starts nothing once mayStart says no, and fails when the attempts running have failed; an attempt learns the race was settled', async () => {
    const c = candidates(3);
    let open = true;
    const race = hedged({ count: 3, hedgeMs, attempt: c.attempt, mayStart: () => open, exhausted: () => exhausted });
    const rejected = expect(race).rejects.toBe(exhausted);
    open = false;
    await vi.advanceTimersByTimeAsync(hedgeMs);
    expect(c.started).toEqual([0]);
    c.fail(0, new SkeinError('TIMEOUT', { message: 'no answer' }));
    await rejected;

    // The second attempt, started beside a slow first, is still dialling when the first answers: it can tell, and ask nothing.
    let dialled = (): void => {};
    const dialling = new Promise<void>((resolve) => (dialled = resolve));
    let answerFirst = (_: string): void => {};
    const seen: boolean[] = [];
    const won = hedged<string>({
      count: 2,
      hedgeMs,
      attempt: async (i, settled) => {
        if (i === 0) return new Promise<string>((resolve) => (answerFirst = resolve));
        await dialling;
        seen.push(settled());
        return notAsked;
      },
      exhausted: () => exhausted,
    });
    await vi.advanceTimersByTimeAsync(hedgeMs);
    answerFirst('first');
    await expect(won).resolves.toBe('first');
    dialled();
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toEqual([true]);
  });
});
