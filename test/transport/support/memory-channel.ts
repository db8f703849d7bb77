import type { MessageChannel } from '../../../transport/channel.js';
import { SkeinError } from '../../../transport/errors.js';

export interface MemoryChannelOptions {
  /** Largest message either end accepts (MESSAGE_TOO_LARGE beyond it). */
  messageBytesMax?: number;
  /** Messages held for an end that has no handler yet; beyond it the pair fails, as a real receive window would stall. */
  heldMessagesMax?: number;
}

/**
 * One end of an in-memory MessageChannel pair: reliable, ordered, exactly
 * once, delivered on a later macrotask (like a socket, never re-entrantly
 * inside `send`), each message a copy so neither end can alias the other's bytes.
 */
export class MemoryChannel implements MessageChannel {
  peer!: MemoryChannel;
  private handler: ((message: Uint8Array) => void) | null = null;
  private readonly held: Uint8Array[] = [];
  private readonly closeHandlers: ((reason: SkeinError | undefined) => void)[] = [];
  private open = true;
  /** Messages sent by this end and not yet delivered to the peer. */
  private inFlight = 0;
  private drained: (() => void) | null = null;
  sent = 0;
  delivered = 0;

  constructor(private readonly options: Required<MemoryChannelOptions>) {}

  get isOpen(): boolean {
    return this.open;
  }

  send(message: Uint8Array): Promise<void> {
    if (!this.open) return Promise.reject(new SkeinError('CONNECTION_CLOSED'));
    if (message.byteLength > this.options.messageBytesMax) {
      return Promise.reject(new SkeinError('MESSAGE_TOO_LARGE', { details: { bytes: message.byteLength, bytesMax: this.options.messageBytesMax } }));
    }
    const copy = message.slice();
    this.sent++;
    this.inFlight++;
    setImmediate(() => {
      this.inFlight--;
      this.peer.receive(copy);
      if (this.inFlight === 0) this.drained?.();
    });
    return Promise.resolve();
  }

  setMessageHandler(handler: (message: Uint8Array) => void): void {
    this.handler = handler;
    while (this.held.length > 0 && this.handler === handler) this.deliver(this.held.shift()!);
  }

  onClose(handler: (reason: SkeinError | undefined) => void): void {
    this.closeHandlers.push(handler);
  }

  /** Graceful: what both ends already sent is delivered, then both ends close. */
  async close(): Promise<void> {
    if (!this.open) return;
    await Promise.all([this.whenDrained(), this.peer.whenDrained()]);
    this.closeBoth(undefined);
  }

  /** Abrupt: both ends close now with `reason` (PEER_DEAD, say); messages in flight are lost. */
  fail(reason: SkeinError): void {
    this.closeBoth(reason);
  }

  private closeBoth(reason: SkeinError | undefined): void {
    this.shut(reason);
    this.peer.shut(reason);
  }

  private shut(reason: SkeinError | undefined): void {
    if (!this.open) return;
    this.open = false;
    for (const handler of this.closeHandlers) handler(reason);
  }

  private whenDrained(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }

  private receive(message: Uint8Array): void {
    if (!this.open) return;
    if (this.handler === null) {
      if (this.held.length >= this.options.heldMessagesMax) {
        this.fail(new SkeinError('BACKPRESSURE', { message: 'the receiving end set no message handler and its buffer is full' }));
        return;
      }
      this.held.push(message);
      return;
    }
    this.deliver(message);
  }

  private deliver(message: Uint8Array): void {
    this.delivered++;
    this.handler!(message);
  }
}

export function createMemoryChannelPair(options: MemoryChannelOptions = {}): [MemoryChannel, MemoryChannel] {
  const resolved = { messageBytesMax: options.messageBytesMax ?? 16 * 1024 * 1024, heldMessagesMax: options.heldMessagesMax ?? 10_000 };
  const a = new MemoryChannel(resolved);
  const b = new MemoryChannel(resolved);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
