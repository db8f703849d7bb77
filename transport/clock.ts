/**
 * The one source of time for the shells (everything outside the pure cores,
 * which take `nowMs` as an argument instead). A shell that a test or a
 * simulation drives on time of its own takes a `clock` option; every other
 * one uses `systemClock`. No other product file reads Date.now or
 * performance.now or sets a timer (the architecture test checks).
 */
export interface Clock {
  /** Milliseconds on a monotonic clock (performance.now()): durations, deadlines, timeouts, round trips. */
  nowMs(): number;
  /** Milliseconds since the Unix epoch (Date.now()): only for times that are stored or sent (segment ages, record timestamps, retention). */
  epochMs(): number;
  /** Calls `fn` once after `delayMs` unless the returned cancel is called first. */
  after(delayMs: number, fn: () => void, options?: TimerOptions): () => void;
  /** Calls `fn` every `intervalMs` until the returned cancel is called. */
  every(intervalMs: number, fn: () => void, options?: TimerOptions): () => void;
}

export interface TimerOptions {
  /** Whether this timer keeps the process alive while it waits (Node's ref); default true. Background ticks say false. */
  keepAlive?: boolean;
}

/**
 * The clock of the process. It looks the global functions up at every call,
 * never once at load: the whole-cluster simulation (test/sim/cluster) installs
 * simulated ones in their place, because it runs the real broker and SDK with
 * their dependencies unchanged, and this clock then runs on simulated time.
 */
export const systemClock: Clock = {
  nowMs: () => performance.now(),
  epochMs: () => Date.now(),
  after(delayMs, fn, options) {
    const handle = setTimeout(fn, delayMs);
    if (options?.keepAlive === false) handle.unref();
    return () => clearTimeout(handle);
  },
  every(intervalMs, fn, options) {
    const handle = setInterval(fn, intervalMs);
    if (options?.keepAlive === false) handle.unref();
    return () => clearInterval(handle);
  },
};
