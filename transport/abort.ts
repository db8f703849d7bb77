/**
 * AbortSignal plumbing shared by the SDK and the broker (which may not import
 * each other): undici's rule, a call aborted by its signal rejects with
 * `signal.reason` exactly.
 */

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
    const onAbort = (): void => {
      promise.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * A signal that aborts when `signal` does (with its reason) or after
 * `timeoutMs` (with `reason()`), whichever comes first. Call `dispose()` when
 * done. Written by hand because Node 20's AbortSignal.any holds its sources
 * weakly: an AbortSignal.timeout() passed to it can be garbage-collected and
 * then never fires.
 */
export function withTimeout(signal: AbortSignal | undefined, timeoutMs: number, reason: () => unknown): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onAbort = (): void => {
    clearTimeout(timer);
    controller.abort(signal!.reason);
  };
  const timer = setTimeout(() => {
    signal?.removeEventListener('abort', onAbort);
    controller.abort(reason());
  }, timeoutMs);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    },
  };
}
