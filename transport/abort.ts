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
