/**
 * Wakes readers waiting for a partition to change: its high watermark moved,
 * it lost or won leadership, it closed. Long-polling fetches and push
 * subscriptions wait on it instead of polling. Listeners run once per change
 * burst: notify() coalesces the calls made in one turn of the event loop,
 * since a Ready may commit hundreds of batches and readers want one wake-up.
 */
export class AdvanceSignal {
  private readonly listeners = new Set<() => void>();
  private scheduled = false;

  /** Registers a listener run on every change until the returned function is called. */
  listen(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves at the next change, or when `signal` aborts (resolving false). */
  next(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = (): void => {
        stop();
        resolve(false);
      };
      const stop = this.listen(() => {
        stop();
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  notify(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      for (const listener of [...this.listeners]) listener();
    });
  }

  get size(): number {
    return this.listeners.size;
  }
}
