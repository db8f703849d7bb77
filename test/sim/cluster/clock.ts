import { AsyncLocalStorage } from 'node:async_hooks';
import { setImmediate as realSetImmediate } from 'node:timers';
import { Scheduler, type SimEvent } from '../scheduler.js';

/**
 * A process in the simulated cluster (a broker's lifetime, or the client).
 * Everything it schedules — timers, and through them every continuation —
 * belongs to it, so killing it stops it dead, as SIGKILL stops a process:
 * its timers never fire again and the network stops delivering to it.
 */
export interface SimProcess {
  readonly name: string;
  dead: boolean;
  /**
   * SIGSTOP: nothing of the process runs until it is resumed (SimClock.resume), when its overdue
   * timers fire at once, each once, as Node's do after a stall. The network holds what arrives meanwhile.
   */
  paused?: boolean;
}

type Callback = (...args: unknown[]) => void;

interface SimTimer {
  readonly id: number;
  readonly owner: SimProcess | undefined;
  readonly callback: Callback;
  readonly args: unknown[];
  readonly delayMs: number;
  readonly intervalMs: number | null;
  event: SimEvent | null;
}

/** What Node's timer functions return: enough of NodeJS.Timeout for our code and its libraries. */
class TimerHandle {
  constructor(
    readonly timer: SimTimer,
    private readonly clock: SimClock,
  ) {}
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  hasRef(): boolean {
    return true;
  }
  refresh(): this {
    this.clock.reschedule(this.timer);
    return this;
  }
  close(): this {
    this.clock.cancel(this.timer);
    return this;
  }
  [Symbol.toPrimitive](): number {
    return this.timer.id;
  }
}

interface Saved {
  setTimeout: typeof globalThis.setTimeout;
  clearTimeout: typeof globalThis.clearTimeout;
  setInterval: typeof globalThis.setInterval;
  clearInterval: typeof globalThis.clearInterval;
  setImmediate: typeof globalThis.setImmediate;
  clearImmediate: typeof globalThis.clearImmediate;
  dateNow: typeof Date.now;
  performanceNow: typeof performance.now;
  mathRandom: typeof Math.random;
}

/**
 * Simulated time for real code. Installs itself in place of the global timer
 * functions, Date.now, performance.now and Math.random, so brokers and the
 * SDK, unchanged, run on a clock that only moves when `step()` moves it: a
 * minute of cluster time with nothing to compute takes no time at all, and
 * every run of a seed makes the same choices in the same order.
 *
 * After each timer fires, `step()` waits one real event-loop turn, so every
 * promise continuation and nextTick it started has run before the next timer:
 * the same interleaving every time, because nothing else (no real socket, no
 * thread-pool fsync) can complete in between — the simulation's network and
 * disk are simulated too (see network.ts and the mocks in the test).
 */
export class SimClock {
  /** Epoch of the simulated Date.now(); performance.now() starts at 0. */
  static readonly epochMs = Date.UTC(2026, 0, 1);

  readonly processes = new AsyncLocalStorage<SimProcess>();
  /** Errors thrown by timer callbacks: a real process would have crashed on them. */
  readonly uncaught: Array<{ process: string; error: unknown }> = [];
  firedTimers = 0;
  private readonly scheduler = new Scheduler();
  private readonly timers = new Map<number, SimTimer>();
  private nextId = 1;
  private saved: Saved | null = null;
  private eventsThisInstant = 0;
  /** Timers that came due while their process was paused, in the order they came due. */
  private readonly overdue = new Map<SimProcess, SimTimer[]>();
  /** Names of the callbacks fired in the last stretch before the livelock limit, for its message. */
  private readonly recentCallbacks: string[] = [];

  /** Simulated cost of one event-loop turn: when a setImmediate callback runs. */
  static readonly loopTurnMs = 0.02;

  constructor(
    private readonly random: () => number,
    /** Events at one instant after which the run fails as a livelock. */
    private readonly livelockEvents = 200_000,
  ) {}

  get nowMs(): number {
    return this.scheduler.now;
  }

  /** Runs `fn` as `process`: what it schedules belongs to that process. */
  runAs<T>(process: SimProcess, fn: () => T): T {
    return this.processes.run(process, fn);
  }

  install(): void {
    if (this.saved !== null) return;
    const g = globalThis as unknown as Record<string, unknown>;
    this.saved = {
      setTimeout: globalThis.setTimeout,
      clearTimeout: globalThis.clearTimeout,
      setInterval: globalThis.setInterval,
      clearInterval: globalThis.clearInterval,
      setImmediate: globalThis.setImmediate,
      clearImmediate: globalThis.clearImmediate,
      dateNow: Date.now,
      performanceNow: performance.now,
      mathRandom: Math.random,
    };
    // Node's setTimeout(fn, 0) waits 1 ms; so does ours, and code that relies on it behaves the same.
    g.setTimeout = (callback: Callback, delayMs?: number, ...args: unknown[]) => this.schedule(callback, Math.max(1, delayMs ?? 0), args, null);
    g.setInterval = (callback: Callback, delayMs?: number, ...args: unknown[]) => {
      const intervalMs = Math.max(1, delayMs ?? 0);
      return this.schedule(callback, intervalMs, args, intervalMs);
    };
    // An event-loop turn takes time; code that polls with setImmediate until a sub-millisecond deadline
    // (the transport's pacer) would otherwise spin forever at one instant.
    g.setImmediate = (callback: Callback, ...args: unknown[]) => this.schedule(callback, SimClock.loopTurnMs, args, null);
    const clear = (handle: unknown): void => {
      const timer = handle instanceof TimerHandle ? handle.timer : typeof handle === 'number' ? this.timers.get(handle) : undefined;
      if (timer !== undefined) this.cancel(timer);
    };
    g.clearTimeout = clear;
    g.clearInterval = clear;
    g.clearImmediate = clear;
    Date.now = () => SimClock.epochMs + Math.floor(this.scheduler.now);
    Object.defineProperty(performance, 'now', { value: () => this.scheduler.now, configurable: true, writable: true });
    Math.random = this.random;
  }

  uninstall(): void {
    const saved = this.saved;
    if (saved === null) return;
    Object.assign(globalThis, {
      setTimeout: saved.setTimeout,
      clearTimeout: saved.clearTimeout,
      setInterval: saved.setInterval,
      clearInterval: saved.clearInterval,
      setImmediate: saved.setImmediate,
      clearImmediate: saved.clearImmediate,
    });
    Date.now = saved.dateNow;
    delete (performance as unknown as Record<string, unknown>).now;
    Math.random = saved.mathRandom;
    this.saved = null;
  }

  /**
   * Fires the next timer, then lets everything it set off settle. False when
   * nothing is scheduled before `limitMs` (the clock then stands at `limitMs`).
   */
  async step(limitMs = Infinity): Promise<boolean> {
    for (;;) {
      const next = this.scheduler.peekTime();
      if (next === null || next > limitMs) {
        if (Number.isFinite(limitMs) && limitMs > this.scheduler.now) this.scheduler.now = limitMs;
        return false;
      }
      const before = this.scheduler.now;
      const event = this.scheduler.pop()!;
      if (event.cancelled) continue;
      this.watchLivelock(before);
      event.fn();
      await new Promise((resolve) => realSetImmediate(resolve));
      return true;
    }
  }

  /** Code that reschedules itself at the same instant forever would hang the run; fail it, naming the culprits. */
  private watchLivelock(before: number): void {
    if (this.scheduler.now !== before) {
      this.eventsThisInstant = 0;
      this.recentCallbacks.length = 0;
      return;
    }
    if (++this.eventsThisInstant < this.livelockEvents) return;
    const counts = new Map<string, number>();
    for (const name of this.recentCallbacks) counts.set(name, (counts.get(name) ?? 0) + 1);
    throw new Error(`livelock: ${this.livelockEvents} events at ${this.scheduler.now} ms without time moving; recent callbacks: ${JSON.stringify([...counts])}`);
  }

  /** Runs the cluster for `ms` of simulated time. */
  async advance(ms: number): Promise<void> {
    const until = this.scheduler.now + ms;
    while (await this.step(until));
  }

  /** Runs until `promise` settles; fails if `limitMs` of simulated time pass first or nothing is left to run. */
  async settle<T>(promise: Promise<T>, limitMs: number, what: string): Promise<T> {
    let settled = false;
    promise.then(
      () => (settled = true),
      () => (settled = true),
    );
    await new Promise((resolve) => realSetImmediate(resolve));
    const until = this.scheduler.now + limitMs;
    while (!settled) {
      if (!(await this.step(until))) throw new Error(`${what}: not done after ${limitMs} ms of simulated time (clock at ${this.scheduler.now} ms)`);
    }
    return promise;
  }

  /** Schedules `fn` unowned: it belongs to no process (the network's deliveries). */
  after(delayMs: number, fn: () => void): void {
    this.scheduler.after(delayMs, fn);
  }

  /** Runs `fn` every `intervalMs`, unowned (the test's own probes), until the returned stop is called. */
  every(intervalMs: number, fn: () => void): () => void {
    let stopped = false;
    const tick = (): void => {
      if (stopped) return;
      fn();
      this.scheduler.after(intervalMs, tick);
    };
    this.scheduler.after(intervalMs, tick);
    return () => (stopped = true);
  }

  /** SIGSTOP: the process's timers wait, overdue, until `resume`. */
  pause(process: SimProcess): void {
    process.paused = true;
  }

  /** SIGCONT: every timer that came due meanwhile fires now (an interval once, then on its period again). */
  resume(process: SimProcess): void {
    process.paused = false;
    const due = this.overdue.get(process) ?? [];
    this.overdue.delete(process);
    for (const timer of due) if (this.timers.has(timer.id) && timer.event?.seq === -1) this.arm(timer, 0);
  }

  cancel(timer: SimTimer): void {
    if (timer.event !== null) timer.event.cancelled = true;
    timer.event = null;
    this.timers.delete(timer.id);
  }

  reschedule(timer: SimTimer): void {
    if (timer.event === null) return;
    timer.event.cancelled = true;
    this.arm(timer, timer.delayMs);
  }

  private schedule(callback: Callback, delayMs: number, args: unknown[], intervalMs: number | null): TimerHandle {
    const timer: SimTimer = { id: this.nextId++, owner: this.processes.getStore(), callback, args, delayMs, intervalMs, event: null };
    this.timers.set(timer.id, timer);
    this.arm(timer, delayMs);
    return new TimerHandle(timer, this);
  }

  private arm(timer: SimTimer, delayMs: number): void {
    timer.event = this.scheduler.after(delayMs, () => this.fire(timer));
  }

  private fire(timer: SimTimer): void {
    const { owner } = timer;
    if (owner?.dead) {
      this.cancel(timer);
      return;
    }
    if (owner?.paused === true) {
      // Still pending (clearTimeout may yet cancel it), but it fires only when the process runs again.
      timer.event = { time: this.scheduler.now, seq: -1, fn: () => {}, cancelled: false };
      const due = this.overdue.get(owner) ?? [];
      due.push(timer);
      this.overdue.set(owner, due);
      return;
    }
    if (timer.intervalMs !== null) this.arm(timer, timer.intervalMs);
    else this.cancel(timer);
    this.firedTimers++;
    if (this.eventsThisInstant > this.livelockEvents - 1000) this.recentCallbacks.push(timer.callback.name || String(timer.callback).slice(0, 80));
    const run = (): void => {
      try {
        timer.callback(...timer.args);
      } catch (error) {
        this.uncaught.push({ process: owner?.name ?? 'world', error });
      }
    };
    if (owner === undefined) run();
    else this.processes.run(owner, run);
  }
}
