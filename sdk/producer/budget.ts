import { systemClock } from '../../transport/clock.js';
import { SkeinError } from '../../transport/errors.js';
import { whenAborted } from '../../transport/abort.js';

interface Waiter {
  bytes: number;
  resolve: () => void;
  reject: (error: unknown) => void;
  cleanup: () => void;
}

/**
 * The producer's memory bound: bytes of records accepted but not yet
 * acknowledged. `send` acquires before it buffers anything, so a producer
 * faster than the cluster waits here instead of growing without bound.
 * Waiters are served first come, first served: a large send is not starved
 * by a stream of small ones.
 */
export class ByteBudget {
  private usedBytes = 0;
  private readonly waiters: Waiter[] = [];
  private closedWith: SkeinError | null = null;
  /** The most ever held at once (tests prove the bound with it). */
  highWaterBytes = 0;

  constructor(readonly capacityBytes: number) {}

  get used(): number {
    return this.usedBytes;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Waits until `bytes` fit, then holds them. Rejects with `signal.reason` on
   * abort, with TIMEOUT at `deadlineMs`, and with the close error once closed.
   */
  acquire(bytes: number, options: { signal?: AbortSignal; deadlineMs: number }): Promise<void> {
    if (bytes > this.capacityBytes) {
      return Promise.reject(
        new SkeinError('RECORD_TOO_LARGE', { message: `${bytes} bytes can never fit the producer buffer of ${this.capacityBytes} bytes (bufferBytesMax)` }),
      );
    }
    if (this.closedWith !== null) return Promise.reject(this.closedWith);
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    if (this.waiters.length === 0 && this.usedBytes + bytes <= this.capacityBytes) {
      this.take(bytes);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { bytes, resolve, reject, cleanup: () => {} };
      const leave = (error: unknown): void => {
        const at = this.waiters.indexOf(waiter);
        if (at === -1) return;
        this.waiters.splice(at, 1);
        waiter.cleanup();
        reject(error);
        // The head leaving may let the next waiters in.
        this.grant();
      };
      const onAbort = (): void => leave(options.signal!.reason);
      const cancelTimer = systemClock.after(
        Math.max(0, options.deadlineMs - systemClock.nowMs()),
        () => leave(new SkeinError('TIMEOUT', { message: `the producer buffer stayed full until the delivery deadline (${bytes} bytes waiting)` })),
      );
      const stopListening = options.signal === undefined ? () => {} : whenAborted(options.signal, onAbort);
      waiter.cleanup = () => {
        cancelTimer();
        stopListening();
      };
      this.waiters.push(waiter);
    });
  }

  release(bytes: number): void {
    if (bytes > this.usedBytes) throw new Error(`ByteBudget: releasing ${bytes} bytes but only ${this.usedBytes} are held`);
    this.usedBytes -= bytes;
    this.grant();
  }

  /** Fails every waiter and every later acquire with `error`. */
  close(error: SkeinError): void {
    this.closedWith = error;
    for (const waiter of this.waiters.splice(0)) {
      waiter.cleanup();
      waiter.reject(error);
    }
  }

  private grant(): void {
    while (this.waiters.length > 0 && this.usedBytes + this.waiters[0]!.bytes <= this.capacityBytes) {
      const waiter = this.waiters.shift()!;
      waiter.cleanup();
      this.take(waiter.bytes);
      waiter.resolve();
    }
  }

  private take(bytes: number): void {
    this.usedBytes += bytes;
    if (this.usedBytes > this.highWaterBytes) this.highWaterBytes = this.usedBytes;
  }
}
