import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { abortable, whenAborted, withTimeout } from '../../transport/abort.js';

describe('abort plumbing', () => {
  it('whenAborted: one real listener per signal, each registration runs once, removals hold', () => {
    const controller = new AbortController();
    const runs: string[] = [];
    const named = (name: string) => () => runs.push(name);
    const twice = named('twice');
    whenAborted(controller.signal, named('a'));
    const stopB = whenAborted(controller.signal, named('b'));
    whenAborted(controller.signal, twice);
    whenAborted(controller.signal, twice);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    stopB();
    stopB();
    controller.abort();
    controller.abort();
    expect(runs.sort()).toEqual(['a', 'twice', 'twice']);
    // An aborted signal registers nothing (callers look at `aborted` first).
    whenAborted(controller.signal, named('late'));
    expect(runs).not.toContain('late');
  });

  it('abortable and withTimeout leave no registration behind once settled', async () => {
    const controller = new AbortController();
    const signal = controller.signal;
    for (let i = 0; i < 100; i++) await abortable(Promise.resolve(i), signal);
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    const timed = Array.from({ length: 100 }, () => withTimeout(signal, 60_000, () => new Error('late')));
    expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    for (const t of timed) t.dispose();
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    controller.abort(new Error('now'));
    // Nothing that settled or was disposed reacts: the derived signals never abort.
    expect(timed.every((t) => !t.signal.aborted)).toBe(true);
    const reason = new Error('stop');
    const live = new AbortController();
    const racing = abortable(new Promise(() => {}), live.signal);
    live.abort(reason);
    await expect(racing).rejects.toBe(reason);
  });
});
