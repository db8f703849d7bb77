import type { MessageChannel } from './channel.js';
import type { Clock } from './clock.js';
import type { ConnectionCore } from './core/connection-core.js';
import { SendStream } from './core/send-stream.js';
import type { ConnectionStats } from './core/stats.js';
import { SkeinError } from './errors.js';
import { transportLimits } from './limits.js';

export type { ConnectionStats } from './core/stats.js';

/** What a Connection needs from its Endpoint: its clock and a nudge to run the send loop. */
export interface ConnectionDriver {
  readonly clock: Clock;
  /** Something changed (data queued, credit freed, close asked): run the endpoint's loop soon. */
  wake(): void;
  /** Messages are waiting for a handler that was just set: deliver them on the next turn. */
  requestDelivery(connection: Connection): void;
}

interface SendWaiter {
  message: Uint8Array;
  resolve: () => void;
  reject: (error: SkeinError) => void;
}

/**
 * One reliable, ordered, exactly-once message channel to a peer over the
 * endpoint's UDP socket. Created by `Endpoint.connect` or handed to
 * `Endpoint.onConnection`; never constructed by applications.
 */
export class Connection implements MessageChannel {
  readonly remote: { readonly host: string; readonly port: number };
  readonly id: string;
  private handler: ((message: Uint8Array) => void) | null = null;
  private readonly closeHandlers: ((reason: SkeinError | undefined) => void)[] = [];
  private readonly waiters: SendWaiter[] = [];
  private readonly roomWaiters: (() => void)[] = [];
  private closeRequested = false;
  private closed = false;
  private closeReason: SkeinError | undefined;
  private closedPromise: Promise<void> | null = null;
  private resolveClosed: (() => void) | null = null;

  /** @internal */
  constructor(
    private readonly core: ConnectionCore,
    private readonly driver: ConnectionDriver,
  ) {
    this.remote = { host: core.peer.host, port: core.peer.port };
    this.id = core.id;
  }

  get isOpen(): boolean {
    return !this.closed && !this.closeRequested && this.core.isOpen;
  }

  /**
   * Marks the peer as a priority peer (it proved it is a broker of our own
   * cluster): outside the limits that protect the endpoint from clients.
   */
  markPriority(): void {
    this.core.markPriority();
  }

  /**
   * The address the peer answers from when it is not the one dialled (a
   * server bound to 0.0.0.0 on a host with several addresses); null when it
   * answers from the address dialled. Sends still go to `remote`.
   */
  get answeredFrom(): string | null {
    return this.core.answeredFrom;
  }

  /** The largest message this connection takes (the smaller of both sides' limits). */
  get messageBytesMax(): number {
    return this.core.messageBytesMax;
  }

  /**
   * Bytes accepted by send() and not yet acknowledged by the peer: what a
   * sender watches to stay a bounded distance ahead (cheap, unlike stats()).
   */
  get bufferedBytes(): number {
    return this.core.sendBufferedBytes;
  }

  /**
   * How far along the stream the peer has acknowledged everything, and where everything send() accepted so far
   * ends (a message still waiting for room counted at its encoded size): a sender that notes the second right
   * after a send knows that message has arrived once the first reaches it.
   */
  get streamAckedBytes(): number {
    return this.core.sendAckedOffset;
  }

  get streamAcceptedBytes(): number {
    let bytes = this.core.sendWriteOffset;
    for (const waiter of this.waiters) bytes += SendStream.encodedBytes(waiter.message.length);
    return bytes;
  }

  send(message: Uint8Array, options: { reservedBytes?: number } = {}): Promise<void> {
    // Room reserved for this message (reserveSendBytes) becomes the message's own from here, whatever happens.
    const reserved = options.reservedBytes ?? 0;
    if (reserved > 0) this.core.adjustSendExtra(-reserved);
    if (!(message instanceof Uint8Array)) {
      return Promise.reject(new SkeinError('INVALID_ARGUMENT', { message: 'send() takes a Uint8Array' }));
    }
    if (this.closed || this.closeRequested) return Promise.reject(this.closedError());
    // A client's connection on a server takes no more than its share of memory, and never waits for it.
    if (this.core.sendBudgeted && message.length > Math.max(reserved, this.core.sendRoomBytes)) {
      return Promise.reject(
        new SkeinError('BACKPRESSURE', {
          message: `${this.core.sendHeld} bytes already wait for the peer to read them; a message of ${message.length} bytes would exceed its share`,
          details: { bytes: message.length, heldBytes: this.core.sendHeld },
        }),
      );
    }
    if (message.length > this.core.messageBytesMax) {
      return Promise.reject(
        new SkeinError('MESSAGE_TOO_LARGE', {
          message: `a message of ${message.length} bytes exceeds this connection's limit of ${this.core.messageBytesMax}`,
          details: { bytes: message.length, limit: this.core.messageBytesMax },
        }),
      );
    }
    if (this.waiters.length === 0) {
      try {
        if (this.core.send(message) === 'queued') {
          this.driver.wake();
          return Promise.resolve();
        }
      } catch (error) {
        return Promise.reject(error);
      }
    }
    // Order is kept: once one message waits, later ones queue behind it.
    if (this.waiters.length >= transportLimits.sendWaitersMax) {
      return Promise.reject(
        new SkeinError('BACKPRESSURE', {
          message: `${this.waiters.length} sends are already waiting for room in the send buffer; await them before sending more`,
        }),
      );
    }
    this.core.adjustSendExtra(message.length);
    return new Promise<void>((resolve, reject) => this.waiters.push({ message, resolve, reject }));
  }

  /**
   * Reserves room for a message still being prepared (a response read from
   * disk), so preparing it never takes more memory than the connection may
   * hold: up to `wantedBytes`, 0 when there is none now (see whenSendRoom).
   * Pass what was granted to `send` as `reservedBytes`, or release it.
   */
  reserveSendBytes(wantedBytes: number): number {
    if (this.closed || this.closeRequested) return 0;
    const granted = Math.max(0, Math.min(wantedBytes, this.core.sendRoomBytes));
    if (granted > 0) this.core.adjustSendExtra(granted);
    return granted;
  }

  releaseSendBytes(bytes: number): void {
    if (bytes > 0) this.core.adjustSendExtra(-bytes);
  }

  /** Runs `callback` once, when room to send may have grown (or the connection closed). */
  whenSendRoom(callback: () => void): void {
    if (this.closed) {
      queueMicrotask(callback);
      return;
    }
    this.roomWaiters.push(callback);
    this.core.wantSendRoom();
    // The endpoint may now have a stuck holder to look for (EndpointCore.pollTimeout), which the armed timer does not know.
    this.driver.wake();
  }

  setMessageHandler(handler: (message: Uint8Array) => void): void {
    this.handler = handler;
    if (this.core.queuedMessages > 0) this.driver.requestDelivery(this);
  }

  onClose(handler: (reason: SkeinError | undefined) => void): void {
    if (this.closed) {
      const reason = this.closeReason;
      queueMicrotask(() => handler(reason));
      return;
    }
    this.closeHandlers.push(handler);
  }

  close(): Promise<void> {
    if (this.closedPromise === null) {
      this.closedPromise = this.closed
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            this.resolveClosed = resolve;
          });
    }
    if (!this.closed && !this.closeRequested) {
      this.closeRequested = true;
      // Messages whose send() resolved still go out (within the close timeout); those still waiting for room
      // were never accepted, and waiting for room could take forever if the peer stopped reading.
      const error = new SkeinError('CONNECTION_CLOSED', { message: 'the connection was closed before this message found room in the send buffer' });
      for (const waiter of this.waiters.splice(0)) {
        this.core.adjustSendExtra(-waiter.message.length);
        waiter.reject(error);
      }
      this.core.close(this.driver.clock.nowMs());
      this.driver.wake();
    }
    return this.closedPromise;
  }

  stats(): ConnectionStats {
    return this.core.stats(this.driver.clock.nowMs());
  }

  // ------------------------------------------------------------ driven by the endpoint

  /** @internal Hands queued messages to the handler. */
  deliver(): void {
    const handler = this.handler;
    if (handler === null) return;
    const core = this.core;
    for (let message = core.pollMessage(); message !== null; message = core.pollMessage()) {
      try {
        handler(message);
      } catch (error) {
        // The application's bug must not break the endpoint's loop; surface it like an event-handler error.
        queueMicrotask(() => {
          throw error;
        });
      }
      if (this.handler !== handler) return;
    }
  }

  /** @internal Room appeared in the send buffer: move waiting messages in, in order. */
  drainWaiters(): void {
    const waiters = this.waiters;
    let queued = 0;
    while (queued < waiters.length) {
      const waiter = waiters[queued]!;
      let outcome: 'queued' | 'full';
      this.core.adjustSendExtra(-waiter.message.length);
      try {
        outcome = this.core.send(waiter.message);
      } catch (error) {
        waiter.reject(error as SkeinError);
        queued++;
        continue;
      }
      if (outcome === 'full') {
        this.core.adjustSendExtra(waiter.message.length);
        break;
      }
      waiter.resolve();
      queued++;
    }
    if (queued > 0) {
      waiters.splice(0, queued);
      this.driver.wake();
    }
    this.notifyRoom();
  }

  private notifyRoom(): void {
    for (const callback of this.roomWaiters.splice(0)) {
      try {
        callback();
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  /** @internal The core connection ended: deliver what arrived, fail what waits, tell the listeners. */
  onCoreClosed(reason: SkeinError | undefined): void {
    if (this.closed) return;
    this.deliver();
    this.closed = true;
    this.closeReason = reason;
    const error = this.closedError();
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
    this.notifyRoom();
    this.resolveClosed?.();
    for (const handler of this.closeHandlers.splice(0)) {
      try {
        handler(reason);
      } catch (handlerError) {
        queueMicrotask(() => {
          throw handlerError;
        });
      }
    }
  }

  private closedError(): SkeinError {
    return this.closeReason ?? this.core.closeError ?? new SkeinError('CONNECTION_CLOSED', { message: 'the connection is closed' });
  }
}
