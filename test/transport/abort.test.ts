import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { abortable, sharedAbortController, whenAborted, withTimeout } from '../../transport/abort.js';

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

  it('withTimeout: an aborted signal wins at once; a timeout beyond a timer\'s range never fires, only the signal ends it', async () => {
    const late = new Error('late');
    const first = new Error('first');
    expect(withTimeout(AbortSignal.abort(first), 0, () => late).signal.reason).toBe(first);
    const beyond = withTimeout(undefined, 2 ** 31, () => late);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(beyond.signal.aborted).toBe(false);
    beyond.dispose();
    const controller = new AbortController();
    const endless = withTimeout(controller.signal, Infinity, () => late);
    expect(endless.signal.aborted).toBe(false);
    controller.abort(first);
    expect(endless.signal.reason).toBe(first);
    endless.dispose();
  });

  it('sharedAbortController: a hundred direct listeners raise no leak warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const { signal } = sharedAbortController();
      for (let i = 0; i < 100; i++) signal.addEventListener('abort', () => {});
      expect(getEventListeners(signal, 'abort')).toHaveLength(100);
      // Node emits the warning on a later tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([]);
  });
});
