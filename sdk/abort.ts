import { setMaxListeners } from 'node:events';
import { SkeinError } from '../transport/errors.js';

import { whenAborted } from '../transport/abort.js';

export { abortable, sleep, whenAborted, withTimeout } from '../transport/abort.js';

/**
 * AbortSignal plumbing in the undici style: every async call of the SDK takes
 * `{ signal }` and, once it aborts, rejects with `signal.reason` exactly (the
 * caller's own error object, or the DOMException AbortError by default).
 */

/** Throws `signal.reason` when the signal has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason;
}

/**
 * A signal that aborts when any input signal aborts (with that one's reason)
 * or when `deadlineMs` (a Date.now() instant) passes, with a TIMEOUT whose
 * message says what ran out. `dispose()` clears the timer.
 */
export function deadlineSignal(options: { signals: readonly (AbortSignal | undefined)[]; deadlineMs: number; what: string }): {
  signal: AbortSignal;
  dispose: () => void;
} {
  const controller = new AbortController();
  const cleanups: (() => void)[] = [];
  const abort = (reason: unknown): void => {
    if (controller.signal.aborted) return;
    controller.abort(reason);
    dispose();
  };
  const dispose = (): void => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  };
  for (const input of options.signals) {
    if (input === undefined) continue;
    if (input.aborted) {
      abort(input.reason);
      return { signal: controller.signal, dispose };
    }
    cleanups.push(whenAborted(input, () => abort(input.reason)));
  }
  const remainingMs = options.deadlineMs - Date.now();
  const timeout = (): SkeinError => new SkeinError('TIMEOUT', { message: `${options.what} did not finish before its deadline` });
  if (remainingMs <= 0) {
    abort(timeout());
  } else if (Number.isFinite(remainingMs)) {
    const timer = setTimeout(() => abort(timeout()), remainingMs);
    cleanups.push(() => clearTimeout(timer));
  }
  return { signal: controller.signal, dispose };
}

/**
 * A controller whose signal every request in flight listens to (a producer's
 * or consumer's close). Each listener is removed when its request settles and
 * the in-flight limits bound how many there are, so Node's default warning at
 * 11 listeners would be a false "memory leak" report on any busy producer.
 */
export function sharedAbortController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}
