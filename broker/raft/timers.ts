/**
 * The driver's only source of time: a real broker passes realTimers, the
 * simulator passes timers on its simulated clock.
 */
export interface RaftTimers {
  /** Calls fn every intervalMs until the returned cancel is called. */
  every(intervalMs: number, fn: () => void): () => void;
  /** Calls fn once after delayMs unless the returned cancel is called first. */
  after(delayMs: number, fn: () => void): () => void;
}

export const realTimers: RaftTimers = {
  every(intervalMs, fn) {
    // Unreferenced: a replica's tick alone must not keep a process alive that is shutting down.
    const handle = setInterval(fn, intervalMs);
    handle.unref();
    return () => clearInterval(handle);
  },
  after(delayMs, fn) {
    const handle = setTimeout(fn, delayMs);
    handle.unref();
    return () => clearTimeout(handle);
  },
};
