import { setMaxListeners } from 'node:events';
import { systemClock } from './clock.js';

/**
 * AbortSignal plumbing shared by the SDK and the broker (which may not import
 * each other): undici's rule, a call aborted by its signal rejects with
 * `signal.reason` exactly.
 */

interface FanOut {
  readonly callbacks: Set<() => void>;
  readonly onAbort: () => void;
}

const fanOuts = new WeakMap<AbortSignal, FanOut>();

/**
 * Runs `callback` once when `signal` aborts; returns its removal. Every call
 * shares one real listener per signal (removed again once nothing waits), so
 * an application passing one signal to a hundred concurrent calls does not
 * trip Node's "possible memory leak" warning at eleven listeners. A signal
 * that has already aborted registers nothing: callers check `aborted` first.
 */
export function whenAborted(signal: AbortSignal, callback: () => void): () => void {
  if (signal.aborted) return () => {};
  let fanOut = fanOuts.get(signal);
  if (fanOut === undefined) {
    const callbacks = new Set<() => void>();
    const onAbort = (): void => {
      fanOuts.delete(signal);
      for (const run of [...callbacks]) run();
    };
    fanOut = { callbacks, onAbort };
    fanOuts.set(signal, fanOut);
    signal.addEventListener('abort', onAbort, { once: true });
  }
  // A wrapper per registration, so the same function registered twice is two registrations.
  const entry = (): void => callback();
  const registered = fanOut;
  registered.callbacks.add(entry);
  return () => {
    if (!registered.callbacks.delete(entry) || registered.callbacks.size > 0) return;
    signal.removeEventListener('abort', registered.onAbort);
    if (fanOuts.get(signal) === registered) fanOuts.delete(signal);
  };
}

/**
 * Races `promise` against `signal`: rejects with `signal.reason` as soon as it
 * aborts. The listener is removed either way, so long-lived signals do not
 * collect one listener per call.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const stopListening = whenAborted(signal, () => {
      promise.catch(() => {});
      reject(signal.reason);
    });
    promise.then(
      (value) => {
        stopListening();
        resolve(value);
      },
      (error: unknown) => {
        stopListening();
        reject(error);
      },
    );
  });
}

/**
 * A signal that aborts when `signal` does (with its reason) or after
 * `timeoutMs` (with `reason()`), whichever comes first; never by time when
 * `timeoutMs` is beyond a timer's range (Infinity). Call `dispose()` when
 * done. Written by hand because Node 20's AbortSignal.any
 * holds its sources weakly: an AbortSignal.timeout() passed to it can be
 * garbage-collected and then never fires. Also the stand-in for
 * AbortSignal.timeout (no `signal`): Node's runs on an internal timer that a
 * simulated clock (test/sim/cluster) cannot replace.
 */
export function withTimeout(signal: AbortSignal | undefined, timeoutMs: number, reason: () => unknown): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onAbort = (): void => {
    cancelTimer();
    controller.abort(signal!.reason);
  };
  let stopListening = (): void => {};
  let cancelTimer = (): void => {};
  if (signal?.aborted) {
    controller.abort(signal.reason);
  } else {
    // A timer past 2^31-1 ms would fire at once (Node clamps it to 1 ms): no deadline that far is kept by time.
    if (!(timeoutMs > timerDelayMsMax)) {
      cancelTimer = systemClock.after(timeoutMs, () => {
        stopListening();
        controller.abort(reason());
      });
    }
    if (signal !== undefined) stopListening = whenAborted(signal, onAbort);
  }
  return {
    signal: controller.signal,
    dispose: () => {
      cancelTimer();
      stopListening();
    },
  };
}

/** The longest delay a Node timer keeps (a 32-bit signed count of milliseconds). */
const timerDelayMsMax = 2 ** 31 - 1;

/**
 * A controller whose signal every call in flight of one owner listens to (a
 * producer's, consumer's or command's close). Calls that take a signal pass it
 * to the platform too (AbortSignal.any, fetch-like APIs), which registers
 * listeners whenAborted cannot share; each goes when its call settles, and the
 * in-flight limits bound how many there are, so Node's warning at 11 would be
 * a false "memory leak" report on any busy producer.
 */
export function sharedAbortController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

/** Sleeps `ms`, or rejects with `signal.reason` when the signal aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    let stopListening = (): void => {};
    const cancelTimer = systemClock.after(ms, () => {
      stopListening();
      resolve();
    });
    if (signal !== undefined) {
      stopListening = whenAborted(signal, () => {
        cancelTimer();
        reject(signal.reason);
      });
    }
  });
}
