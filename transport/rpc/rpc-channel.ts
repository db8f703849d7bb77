import type { MessageChannel } from '../channel.js';
import { type Clock, systemClock } from '../clock.js';
import { SkeinError, errorFromWire, type WireError } from '../errors.js';
import { transportLimits } from '../limits.js';
import { correlationIdMax, decodeFrame, encodeFrame, isMethod, type Frame } from './frames.js';

export interface RpcHandlerContext {
  /** Aborts when the caller cancels, the request's deadline passes, or the channel closes. */
  signal: AbortSignal;
  rpc: RpcChannel;
  /**
   * Reserves room for a large response before preparing it (reading it from
   * disk, say), waiting until the channel has at least `minBytes` (default 1)
   * free at once, holding nothing meanwhile: resolves with the bytes granted
   * (`minBytes` to `wantedBytes`), which the response then uses. A peer that
   * does not read its responses gets no room, so a handler never prepares
   * more than the channel may hold. Rejects with `signal.reason` on abort.
   */
  reserveResponseBytes(wantedBytes: number, minBytes?: number): Promise<number>;
}

/**
 * Answers one request. The returned value (or promise) is the response body;
 * a thrown SkeinError travels to the caller as its code, message and details;
 * anything else thrown becomes INTERNAL with no message or stack of ours.
 */
export type RpcHandler = (method: string, body: unknown, context: RpcHandlerContext) => unknown | Promise<unknown>;

export interface RpcChannelOptions {
  handler?: RpcHandler;
  /** Receives one-way messages; a throw is counted and ignored. */
  onNotify?: (method: string, body: unknown) => void;
  /** Deadline of a request that gives none. */
  timeoutMsDefault?: number;
  /** Requests awaiting a response; beyond it `request` rejects with BACKPRESSURE. */
  pendingMax?: number;
  /** The peer's requests handled at once; beyond it they are answered with BACKPRESSURE. */
  handlingMax?: number;
  /** Where deadlines and the idle watch take their time from; default systemClock. */
  clock?: Clock;
  /**
   * Close the channel (gracefully) once no frame has moved either way for
   * this long, with no request waiting or being handled and `isBusy` false:
   * a connection that only keeps itself alive with transport PINGs serves
   * nobody. It is closed between one and two of these periods after its last
   * frame. Default 0: never.
   */
  idleTimeoutMs?: number;
  /** State the channel cannot see that keeps an idle channel open (a broker's push subscriptions on it). */
  isBusy?: () => boolean;
}

export interface RpcRequestOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface RpcStats {
  requestsSent: number;
  responsesReceived: number;
  errorsReceived: number;
  timeouts: number;
  aborted: number;
  /** Requests refused because pendingMax requests were waiting. */
  backpressureRejected: number;
  /** Responses that matched no waiting request: late after a timeout or an abort, or unknown ids. */
  lateResponses: number;
  requestsHandled: number;
  /** Requests answered with an error (the handler threw, or the request could not be served). */
  errorsSent: number;
  /** Handler results nobody waits for any more (cancelled, past the deadline, channel closed). */
  responsesDropped: number;
  notifiesSent: number;
  notifiesReceived: number;
  /** Notifies with no onNotify handler, or whose handler threw. */
  notifiesDropped: number;
  cancelsReceived: number;
  /** Frames that failed to decode or had the wrong shape (answered with MALFORMED_REQUEST when they named a request). */
  malformedFrames: number;
  /** The channel closed itself for idleness (RpcChannelOptions.idleTimeoutMs). */
  idleClosed: boolean;
  readonly pending: number;
  readonly handling: number;
}

interface Pending {
  method: string;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  cancelTimer: () => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

interface Handling {
  controller: AbortController;
  cancelTimer: (() => void) | undefined;
  /** Room reserved for this request's response (reserveResponseBytes). */
  reservedBytes: number;
}

/**
 * Requests, responses and one-way notifies over any MessageChannel (a
 * transport Connection, or an in-memory pair in tests). Both ends may send
 * requests. Bounded: at most `pendingMax` requests wait for answers and at
 * most `handlingMax` of the peer's requests run at once.
 * The channel belongs to the RpcChannel from construction: it sets the
 * channel's message handler and closes it on `close()`.
 */
export class RpcChannel implements AsyncDisposable {
  private readonly handler: RpcHandler | undefined;
  private readonly onNotify: ((method: string, body: unknown) => void) | undefined;
  private readonly timeoutMsDefault: number;
  private readonly pendingMax: number;
  private readonly handlingMax: number;
  private readonly clock: Clock;
  private readonly pendingRequests = new Map<number, Pending>();
  private readonly handlingRequests = new Map<number, Handling>();
  private nextId = 0;
  /** Frames received and sent so far (the idle watch compares it between checks), and its timer. */
  private framesMoved = 0;
  private cancelIdleTimer: (() => void) | undefined = undefined;
  private closeReason: SkeinError | null = null;
  private closing: Promise<void> | null = null;

  readonly stats: RpcStats;

  constructor(
    private readonly channel: MessageChannel,
    options: RpcChannelOptions = {},
  ) {
    this.handler = options.handler;
    this.onNotify = options.onNotify;
    this.timeoutMsDefault = checkTimeout(options.timeoutMsDefault ?? transportLimits.rpcTimeoutMsDefault, 'timeoutMsDefault');
    this.pendingMax = checkBound(options.pendingMax ?? transportLimits.rpcPendingMax, 'pendingMax', transportLimits.rpcPendingMax);
    this.handlingMax = checkBound(options.handlingMax ?? transportLimits.rpcHandlingMax, 'handlingMax', transportLimits.rpcHandlingMax);
    this.clock = options.clock ?? systemClock;
    const pendingRequests = this.pendingRequests;
    const handlingRequests = this.handlingRequests;
    this.stats = {
      requestsSent: 0,
      responsesReceived: 0,
      errorsReceived: 0,
      timeouts: 0,
      aborted: 0,
      backpressureRejected: 0,
      lateResponses: 0,
      requestsHandled: 0,
      errorsSent: 0,
      responsesDropped: 0,
      notifiesSent: 0,
      notifiesReceived: 0,
      notifiesDropped: 0,
      cancelsReceived: 0,
      malformedFrames: 0,
      idleClosed: false,
      get pending() {
        return pendingRequests.size;
      },
      get handling() {
        return handlingRequests.size;
      },
    };
    channel.setMessageHandler((message) => this.onMessage(message));
    channel.onClose((reason) => this.shutDown(reason));
    if (!channel.isOpen) this.shutDown(undefined);
    const idleTimeoutMs = options.idleTimeoutMs ?? 0;
    if (idleTimeoutMs > 0 && this.closeReason === null) this.watchIdle(checkTimeout(idleTimeoutMs, 'idleTimeoutMs'), options.isBusy ?? (() => false));
  }

  /** Closes the channel after a whole period with no frame either way and nothing outstanding. */
  private watchIdle(idleTimeoutMs: number, isBusy: () => boolean): void {
    let framesSeen = -1;
    const check = (): void => {
      this.cancelIdleTimer = undefined;
      if (this.closeReason !== null) return;
      const frames = this.framesMoved;
      if (frames === framesSeen && this.pendingRequests.size === 0 && this.handlingRequests.size === 0 && !isBusy()) {
        this.stats.idleClosed = true;
        void this.close();
        return;
      }
      framesSeen = frames;
      this.cancelIdleTimer = this.clock.after(idleTimeoutMs, check);
    };
    this.cancelIdleTimer = this.clock.after(idleTimeoutMs, check);
  }

  get isOpen(): boolean {
    return this.closeReason === null;
  }

  /**
   * Sends a request and resolves with the response body. Rejects with the
   * peer's SkeinError, TIMEOUT at the deadline, `signal.reason` (or ABORTED)
   * on abort, BACKPRESSURE when too many requests wait, CONNECTION_CLOSED
   * when the channel closes first, INVALID_ARGUMENT when the body is not plain data.
   */
  request<T = unknown>(method: string, body: unknown, options: RpcRequestOptions = {}): Promise<T> {
    try {
      const { signal } = options;
      if (this.closeReason !== null) throw this.closeReason;
      if (signal?.aborted) {
        this.stats.aborted++;
        throw abortReason(signal);
      }
      checkMethod(method);
      const timeoutMs = options.timeoutMs === undefined ? this.timeoutMsDefault : checkTimeout(options.timeoutMs, 'timeoutMs');
      if (this.pendingRequests.size >= this.pendingMax) {
        this.stats.backpressureRejected++;
        throw new SkeinError('BACKPRESSURE', {
          message: `${this.pendingMax} requests are already waiting for a response on this channel`,
        });
      }
      const id = this.allocateId();
      const frame = encodeFrame({ kind: 'request', id, method, body, timeoutMs });
      return new Promise<T>((resolve, reject) => {
        const entry: Pending = {
          method,
          resolve: resolve as (value: unknown) => void,
          reject,
          signal,
          onAbort: undefined,
          cancelTimer: this.clock.after(timeoutMs, () => {
            this.stats.timeouts++;
            this.settle(id, (p) =>
              p.reject(
                new SkeinError('TIMEOUT', {
                  message: `request ${method} got no response within ${timeoutMs}ms`,
                  details: { method, timeoutMs },
                }),
              ),
            );
            this.sendCancel(id);
          }),
        };
        if (signal !== undefined) {
          entry.onAbort = () => {
            this.stats.aborted++;
            this.settle(id, (p) => p.reject(abortReason(signal)));
            this.sendCancel(id);
          };
          signal.addEventListener('abort', entry.onAbort, { once: true });
        }
        this.pendingRequests.set(id, entry);
        this.stats.requestsSent++;
        this.sendFrame(frame).then(undefined, (error: unknown) => {
          this.settle(id, (p) => p.reject(asSkeinError(error)));
        });
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Sends a one-way message; resolves once the channel has queued it (backpressure), rejects like `MessageChannel.send`. */
  async notify(method: string, body: unknown, options: { reservedBytes?: number } = {}): Promise<void> {
    const reservedBytes = options.reservedBytes ?? 0;
    if (this.closeReason !== null) {
      this.releaseSendBytes(reservedBytes);
      throw this.closeReason;
    }
    let frame: Uint8Array;
    try {
      checkMethod(method);
      frame = encodeFrame({ kind: 'notify', method, body });
    } catch (error) {
      this.releaseSendBytes(reservedBytes);
      throw error;
    }
    this.stats.notifiesSent++;
    this.framesMoved++;
    await this.channel.send(frame, reservedBytes > 0 ? { reservedBytes } : undefined);
  }

  /** Rejects every waiting request with CONNECTION_CLOSED, aborts running handlers, and closes the channel gracefully. */
  close(): Promise<void> {
    if (this.closing === null) {
      this.shutDown(undefined);
      this.closing = this.channel.close().catch(() => undefined);
    }
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---------------------------------------------------------------- receiving

  private onMessage(message: Uint8Array): void {
    this.framesMoved++;
    const frame = decodeFrame(message);
    switch (frame.kind) {
      case 'request':
        this.onRequest(frame.id, frame.method, frame.body, frame.timeoutMs);
        return;
      case 'response':
        this.onResponse(frame.id, (p) => {
          this.stats.responsesReceived++;
          p.resolve(frame.body);
        });
        return;
      case 'error':
        this.onResponse(frame.id, (p) => {
          this.stats.errorsReceived++;
          p.reject(errorFromWire(frame.error));
        });
        return;
      case 'notify':
        this.onNotifyFrame(frame.method, frame.body);
        return;
      case 'cancel': {
        this.stats.cancelsReceived++;
        const running = this.handlingRequests.get(frame.id);
        running?.controller.abort(new SkeinError('ABORTED', { message: 'the caller cancelled the request' }));
        return;
      }
      case 'malformed':
        this.stats.malformedFrames++;
        if (frame.requestId !== undefined && !this.handlingRequests.has(frame.requestId)) {
          this.sendError(frame.requestId, new SkeinError('MALFORMED_REQUEST', { message: `malformed request frame: ${frame.reason}` }));
        }
        return;
    }
  }

  private onResponse(id: number, deliver: (pending: Pending) => void): void {
    if (!this.settle(id, deliver)) this.stats.lateResponses++;
  }

  private onNotifyFrame(method: string, body: unknown): void {
    this.stats.notifiesReceived++;
    if (this.onNotify === undefined) {
      this.stats.notifiesDropped++;
      return;
    }
    try {
      this.onNotify(method, body);
    } catch {
      // A push handler's bug must not take the connection down; it is counted for whoever watches stats.
      this.stats.notifiesDropped++;
    }
  }

  private onRequest(id: number, method: string, body: unknown, timeoutMs: number | undefined): void {
    if (this.closeReason !== null) return;
    if (this.handlingRequests.has(id)) {
      // A peer reusing a running id is broken; answering would resolve its first request with this one's error.
      this.stats.malformedFrames++;
      return;
    }
    if (this.handler === undefined) {
      this.sendError(id, new SkeinError('UNKNOWN_METHOD', { message: `this end serves no requests (method ${method})`, details: { method } }));
      return;
    }
    if (this.handlingRequests.size >= this.handlingMax) {
      this.sendError(id, new SkeinError('BACKPRESSURE', { message: `${this.handlingMax} requests are already being handled` }));
      return;
    }
    const controller = new AbortController();
    const handling: Handling = { controller, cancelTimer: undefined, reservedBytes: 0 };
    if (timeoutMs !== undefined) {
      handling.cancelTimer = this.clock.after(timeoutMs, () => {
        controller.abort(new SkeinError('TIMEOUT', { message: `request ${method} passed its deadline of ${timeoutMs}ms`, details: { method, timeoutMs } }));
      });
    }
    this.handlingRequests.set(id, handling);
    this.stats.requestsHandled++;

    let result: unknown;
    try {
      const reserveResponseBytes = async (wantedBytes: number, minBytes = 1): Promise<number> => {
        const granted = await this.reserveSendBytesWhenRoom(wantedBytes, minBytes, controller.signal);
        handling.reservedBytes += granted;
        return granted;
      };
      result = this.handler(method, body, { signal: controller.signal, rpc: this, reserveResponseBytes });
      if (isPromiseLike(result)) {
        Promise.resolve(result).then(
          (value) => this.finishHandling(id, handling, { ok: true, value }),
          (error: unknown) => this.finishHandling(id, handling, { ok: false, error }),
        );
        return;
      }
    } catch (error) {
      this.finishHandling(id, handling, { ok: false, error });
      return;
    }
    this.finishHandling(id, handling, { ok: true, value: result });
  }

  private finishHandling(id: number, handling: Handling, outcome: { ok: true; value: unknown } | { ok: false; error: unknown }): void {
    handling.cancelTimer?.();
    if (this.handlingRequests.get(id) === handling) this.handlingRequests.delete(id);
    const reservedBytes = handling.reservedBytes;
    handling.reservedBytes = 0;
    if (handling.controller.signal.aborted || this.closeReason !== null) {
      // Cancelled, past the deadline, or closed: the caller has stopped waiting.
      this.channel.releaseSendBytes?.(reservedBytes);
      this.stats.responsesDropped++;
      return;
    }
    if (!outcome.ok) {
      this.sendError(id, outcome.error, reservedBytes);
      return;
    }
    let frame: Uint8Array;
    try {
      frame = encodeFrame({ kind: 'response', id, body: outcome.value });
    } catch (error) {
      this.sendError(id, new SkeinError('INTERNAL', { message: 'the response could not be encoded', cause: error }), reservedBytes);
      return;
    }
    this.sendFrame(frame, reservedBytes).then(undefined, (error: unknown) => {
      // A response too large for the channel, or more than a peer that is not reading may be sent, still owes the caller an answer.
      if (error instanceof SkeinError && (error.code === 'MESSAGE_TOO_LARGE' || error.code === 'BACKPRESSURE')) this.sendError(id, error);
      else this.stats.responsesDropped++;
    });
  }

  private sendFrame(frame: Uint8Array, reservedBytes = 0): Promise<void> {
    this.framesMoved++;
    return sendSafely(this.channel, frame, reservedBytes);
  }

  // ---------------------------------------------------------------- room to send

  /**
   * Reserves up to `wantedBytes` of room to send on this channel now (0: none
   * now; see whenSendRoom). For one-way messages prepared at a pace the peer
   * sets (pushes): pass the grant to `notify`, or release it.
   */
  reserveSendBytes(wantedBytes: number): number {
    if (this.closeReason !== null) return 0;
    return this.channel.reserveSendBytes?.(wantedBytes) ?? wantedBytes;
  }

  releaseSendBytes(bytes: number): void {
    this.channel.releaseSendBytes?.(bytes);
  }

  /** Resolves once room to send may have grown, or the channel closed. */
  whenSendRoom(): Promise<void> {
    const channel = this.channel;
    if (this.closeReason !== null || channel.whenSendRoom === undefined) return Promise.resolve();
    return new Promise((resolve) => channel.whenSendRoom!(resolve));
  }

  /**
   * Waits for room and reserves it: at least `minBytes`, at most `wantedBytes`. Less than `minBytes` is
   * given back at once: handlers each holding part of what they need while waiting for the rest could
   * hold a connection's room between them and wait on each other until their deadlines.
   */
  private async reserveSendBytesWhenRoom(wantedBytes: number, minBytes: number, signal: AbortSignal): Promise<number> {
    if (!Number.isSafeInteger(minBytes) || minBytes < 1 || minBytes > wantedBytes) {
      throw new SkeinError('INVALID_ARGUMENT', { message: `reserveResponseBytes: minBytes ${minBytes} must be an integer from 1 to wantedBytes (${wantedBytes})` });
    }
    for (;;) {
      if (signal.aborted) throw abortReason(signal);
      if (this.closeReason !== null) throw this.closeReason;
      const granted = this.reserveSendBytes(wantedBytes);
      if (granted >= minBytes) return granted;
      this.releaseSendBytes(granted);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal.removeEventListener('abort', done);
          resolve();
        };
        signal.addEventListener('abort', done, { once: true });
        void this.whenSendRoom().then(done);
      });
    }
  }

  // ---------------------------------------------------------------- sending helpers

  private sendError(id: number, error: unknown, reservedBytes = 0): void {
    this.stats.errorsSent++;
    const wire = wireErrorOf(error);
    let frame: Uint8Array;
    try {
      frame = encodeFrame({ kind: 'error', id, error: wire });
    } catch {
      // Details that are not plain data are left out rather than losing the error itself.
      frame = encodeFrame({ kind: 'error', id, error: { code: wire.code, message: wire.message } });
    }
    this.sendFrame(frame, reservedBytes).then(undefined, () => {
      this.stats.responsesDropped++;
    });
  }

  private sendCancel(id: number): void {
    if (this.closeReason !== null) return;
    this.sendFrame(encodeFrame({ kind: 'cancel', id })).then(undefined, () => undefined);
  }

  // ---------------------------------------------------------------- bookkeeping

  private allocateId(): number {
    // Ids wrap within 32 bits; one still waiting is skipped (pendingMax is far below 2^32, so this ends).
    do {
      this.nextId = this.nextId >= correlationIdMax ? 1 : this.nextId + 1;
    } while (this.pendingRequests.has(this.nextId));
    return this.nextId;
  }

  /** Removes a waiting request and runs `deliver` on it; false when no such request waits. */
  private settle(id: number, deliver: (pending: Pending) => void): boolean {
    const pending = this.pendingRequests.get(id);
    if (pending === undefined) return false;
    this.pendingRequests.delete(id);
    pending.cancelTimer();
    if (pending.onAbort !== undefined) pending.signal?.removeEventListener('abort', pending.onAbort);
    deliver(pending);
    return true;
  }

  private shutDown(reason: SkeinError | undefined): void {
    if (this.closeReason !== null) return;
    this.closeReason = new SkeinError('CONNECTION_CLOSED', {
      message: reason === undefined ? 'the RPC channel closed' : `the RPC channel closed: ${reason.message}`,
      details: reason === undefined ? undefined : { reason: reason.code },
      cause: reason,
    });
    const closed = this.closeReason;
    this.cancelIdleTimer?.();
    this.cancelIdleTimer = undefined;
    for (const id of [...this.pendingRequests.keys()]) this.settle(id, (p) => p.reject(closed));
    for (const handling of this.handlingRequests.values()) handling.controller.abort(closed);
  }
}

/** MessageChannel.send as a promise even if an implementation throws synchronously. */
function sendSafely(channel: MessageChannel, frame: Uint8Array, reservedBytes = 0): Promise<void> {
  try {
    return reservedBytes > 0 ? channel.send(frame, { reservedBytes }) : channel.send(frame);
  } catch (error) {
    return Promise.reject(error);
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** The wire form of whatever a handler threw: its own SkeinError, or INTERNAL that reveals nothing of ours. */
function wireErrorOf(error: unknown): WireError {
  if (error instanceof SkeinError) return error.toWire();
  return new SkeinError('INTERNAL').toWire();
}

function asSkeinError(error: unknown): SkeinError {
  return error instanceof SkeinError ? error : new SkeinError('CONNECTION_CLOSED', { message: 'the channel failed to send', cause: error });
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new SkeinError('ABORTED');
}

function checkMethod(method: string): void {
  if (!isMethod(method)) {
    throw new SkeinError('INVALID_ARGUMENT', {
      message: `a method name is a non-empty string of at most ${transportLimits.rpcMethodBytesMax} bytes`,
    });
  }
}

function checkBound(value: number, name: string, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new SkeinError('INVALID_ARGUMENT', { message: `${name} must be an integer in 1..${max}` });
  }
  return value;
}

function checkTimeout(timeoutMs: number, name: string): number {
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || timeoutMs > transportLimits.rpcTimeoutMsMax) {
    throw new SkeinError('INVALID_ARGUMENT', { message: `${name} must be a number in (0, ${transportLimits.rpcTimeoutMsMax}]` });
  }
  return timeoutMs;
}

export type { Frame };
