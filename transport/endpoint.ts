import { createHmac, randomFillSync } from 'node:crypto';
import dgram from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';
import { sleep } from './abort.js';
import { type Clock, systemClock } from './clock.js';
import { Connection, type ConnectionDriver } from './connection.js';
import type { EndpointCoreOptions } from './core/endpoint-settings.js';
import { type PeerAddress, peerAddress } from './core/address.js';
import type { ConnectionCore } from './core/connection-core.js';
import { EndpointCore } from './core/endpoint-core.js';
import type { CoreEnvironment } from './core/environment.js';
import type { EndpointCoreStats, EndpointDropCounters } from './core/stats.js';
import { SkeinError } from './errors.js';
import { HeldDatagrams } from './held-datagrams.js';
import { kernelReceiveDrops } from './kernel-drops.js';
import { transportLimits } from './limits.js';
import { resolveLossModel } from './loss/index.js';
import type { LossModel, LossSide, LossStats } from './loss/types.js';
import { SendSlab } from './send-slab.js';

export interface EndpointOptions extends EndpointCoreOptions {
  /** Address to bind; default '0.0.0.0' (an IPv6 address makes a udp6 socket). */
  host?: string;
  /** Port to bind; 0 (the default) picks a free one. */
  port?: number;
  /** Fault injection: a model, a spec string ("loss=0.1,delay=5ms"), or null for none. Default: SKEIN_LOSS. */
  loss?: LossModel | string | null;
  /** Same as `loss` given a model object (or null); set one or the other. */
  lossModel?: LossModel | null;
  /** Which directions consult the loss model; default both (the model's own `side` still applies). */
  lossSide?: LossSide;
}

export interface EndpointStats extends Omit<EndpointCoreStats, 'drops'> {
  address: { host: string; port: number };
  drops: EndpointDropCounters & {
    /** Dropped by the loss model on purpose (loss, bursts, blackholes, its queue): never real losses. */
    injected: number;
    /** Held back by the loss model beyond lossHeldBytesMax, and dropped. */
    lossHeldOverflow: number;
    /** Datagrams the socket failed to send. */
    sendErrors: number;
    /** Dropped by the kernel because our receive buffer was full (Linux); null where unknown. */
    kernelReceiveBuffer: number | null;
  };
  /** The loss model's own counters, or null without a model. */
  loss: LossStats | null;
  socket: {
    receiveBufferBytes: number;
    sendBufferBytes: number;
    datagramsSent: number;
    bytesSent: number;
    /** Times the socket's own send queue was full and the endpoint waited. */
    sendQueueStalls: number;
  };
}

/** The shortest wait a Node timer can do. */
const timerResolutionMs = 1;

/** Datagrams are sliced from 1 MiB slabs. */
const slabBytes = 1024 * 1024;

/**
 * dgram resolves every destination through `lookup`; ours answers IP literals
 * at once instead of a tick later, and remembers the last one (a connection
 * sends to the same peer datagram after datagram).
 */
let lastLookupAddress = '';
let lastLookupFamily = 0;
function lookupFast(address: string, family: unknown, callback: (error: Error | null, address: string, family: number) => void): void {
  if (address === lastLookupAddress) {
    callback(null, address, lastLookupFamily);
    return;
  }
  const kind = isIP(address);
  if (kind !== 0) {
    lastLookupAddress = address;
    lastLookupFamily = kind;
    callback(null, address, kind);
    return;
  }
  dnsLookup(address, family as number, callback as (error: Error | null, address: string, family: number) => void);
}

const nodeEnvironment: CoreEnvironment = {
  mac: (key, data) => createHmac('sha256', key).update(data).digest(),
  randomFill: (out) => {
    randomFillSync(out);
  },
};

interface PendingConnect {
  resolve: (connection: Connection) => void;
  reject: (error: SkeinError) => void;
  cleanup: () => void;
}

/**
 * One UDP socket serving many connections: the only place that touches
 * node:dgram, and the one clock of its connections. It feeds the pure
 * EndpointCore with datagrams and the time, sends what the core hands back
 * (paced by the core, batched once per event-loop turn), and keeps exactly
 * one timer armed for the earliest deadline of all connections.
 */
export class Endpoint implements ConnectionDriver {
  readonly address: { readonly host: string; readonly port: number };
  readonly clock: Clock = systemClock;
  private readonly core: EndpointCore;
  private readonly socket: dgram.Socket;
  private readonly family: 'udp4' | 'udp6';
  private readonly loss: LossModel | null;
  private readonly lossOnSend: boolean;
  private readonly lossOnReceive: boolean;
  private readonly held = new HeldDatagrams(transportLimits.lossHeldBytesMax);
  private readonly slab: SendSlab;
  private readonly shells = new Map<ConnectionCore, Connection>();
  private readonly connects = new Map<ConnectionCore, PendingConnect>();
  private readonly deliveries: Connection[] = [];
  private acceptHandler: ((connection: Connection) => void) | null = null;
  private readonly acceptedBeforeHandler: Connection[] = [];
  private flushScheduled = false;
  /** When the latest turn of the loop started (the socket was read just before it). */
  private lastTurnMs = this.clock.nowMs();
  /** Datagrams read since the last look at whether a stall's backlog is drained, and when the catch-up began. */
  private readsSinceCheck = 0;
  private catchUpStartedMs = 0;
  /** Cancels the armed timer (null: none is armed). */
  private cancelTimer: (() => void) | null = null;
  private timerDeadlineMs = Infinity;
  private closing: Promise<void> | null = null;
  private socketClosed = false;
  private lastSocketFacts: { receiveBufferBytes: number; sendBufferBytes: number; kernelReceiveDrops: number | null } | null = null;
  private readonly counters = { sendErrors: 0, sendQueueStalls: 0, datagramsSent: 0, bytesSent: 0 };

  private constructor(socket: dgram.Socket, family: 'udp4' | 'udp6', core: EndpointCore, loss: LossModel | null, lossSide: LossSide) {
    this.socket = socket;
    this.family = family;
    this.core = core;
    this.loss = loss;
    this.lossOnSend = loss !== null && lossSide !== 'receive';
    this.lossOnReceive = loss !== null && lossSide !== 'send';
    this.slab = new SendSlab(slabBytes, core.settings.datagramBytes);
    const bound = socket.address();
    this.address = { host: bound.address, port: bound.port };
    socket.on('message', this.onMessage);
    socket.on('error', this.onSocketError);
  }

  /** Binds a socket and starts serving. Rejects with INVALID_CONFIG for bad options or a bind failure. */
  static async open(options: EndpointOptions = {}): Promise<Endpoint> {
    const host = options.host ?? '0.0.0.0';
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new SkeinError('INVALID_CONFIG', { message: `port must be an integer in [0, 65535], got ${String(port)}` });
    }
    const lossSide = options.lossSide ?? 'both';
    if (lossSide !== 'send' && lossSide !== 'receive' && lossSide !== 'both') {
      throw new SkeinError('INVALID_CONFIG', { message: `lossSide must be send, receive or both, got ${String(lossSide)}` });
    }
    const core = new EndpointCore(options, nodeEnvironment);
    if (options.loss !== undefined && options.lossModel !== undefined) {
      throw new SkeinError('INVALID_CONFIG', { message: 'set loss or lossModel, not both' });
    }
    const loss = resolveLossModel(options.loss ?? options.lossModel);
    const family = isIP(host) === 6 ? 'udp6' : 'udp4';
    const socket = dgram.createSocket({
      type: family,
      recvBufferSize: transportLimits.socketBufferBytes,
      sendBufferSize: transportLimits.socketBufferBytes,
      lookup: lookupFast as unknown as dgram.SocketOptions['lookup'],
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        socket.close();
        reject(new SkeinError('INVALID_CONFIG', { message: `cannot bind ${host}:${port}: ${error.message}`, cause: error }));
      };
      socket.once('error', onError);
      socket.bind(port, host, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    return new Endpoint(socket, family, core, loss, lossSide);
  }

  /** Receives every connection accepted from now on (and any accepted before a handler was set). */
  onConnection(handler: (connection: Connection) => void): void {
    this.acceptHandler = handler;
    for (const connection of this.acceptedBeforeHandler.splice(0)) this.handOut(handler, connection);
  }

  /** The application's bug must not break the endpoint's loop: it surfaces like an event-handler error. */
  private handOut(handler: (connection: Connection) => void, connection: Connection): void {
    try {
      handler(connection);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  /**
   * Opens a connection to `peer` (a host name is resolved first). Resolves
   * once the handshake is done; rejects with TIMEOUT, CONNECTION_REFUSED,
   * UNSUPPORTED_VERSION, ABORTED or ENDPOINT_CLOSED.
   */
  async connect(peer: { host: string; port: number }, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<Connection> {
    const { signal, timeoutMs } = options;
    if (this.closing !== null) throw new SkeinError('ENDPOINT_CLOSED', { message: 'the endpoint is closed' });
    if (!Number.isInteger(peer.port) || peer.port < 1 || peer.port > 65_535) {
      throw new SkeinError('INVALID_ARGUMENT', { message: `peer port must be an integer in [1, 65535], got ${String(peer.port)}` });
    }
    if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
      throw new SkeinError('INVALID_ARGUMENT', { message: `timeoutMs must be a positive number, got ${String(timeoutMs)}` });
    }
    if (signal?.aborted) throw new SkeinError('ABORTED', { cause: signal.reason });
    const host = await this.resolveHost(peer.host);
    if (signal?.aborted) throw new SkeinError('ABORTED', { cause: signal.reason });
    if (this.closing !== null) throw new SkeinError('ENDPOINT_CLOSED', { message: 'the endpoint is closed' });
    const core = this.core.connect(this.clock.nowMs(), host, peer.port, timeoutMs);
    const connection = new Connection(core, this);
    this.shells.set(core, connection);
    const opened = new Promise<Connection>((resolve, reject) => {
      const onAbort = (): void => core.close(this.clock.nowMs(), new SkeinError('ABORTED', { cause: signal?.reason }));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.connects.set(core, { resolve, reject, cleanup: () => signal?.removeEventListener('abort', onAbort) });
    });
    this.wake();
    return opened;
  }

  private async resolveHost(host: string): Promise<string> {
    if (isIP(host) !== 0) return host;
    const wanted = this.family === 'udp6' ? 6 : 4;
    try {
      const { address } = await new Promise<{ address: string }>((resolve, reject) =>
        dnsLookup(host, { family: wanted }, (error, address) => (error ? reject(error) : resolve({ address }))),
      );
      return address;
    } catch (error) {
      throw new SkeinError('CONNECTION_REFUSED', { message: `cannot resolve ${host}: ${(error as Error).message}`, cause: error });
    }
  }

  stats(): EndpointStats {
    const core = this.core.stats();
    const lossStats = this.loss === null ? null : { ...this.loss.stats };
    const injected = lossStats === null ? 0 : lossStats.dropped + lossStats.queueDropped + lossStats.blackholed;
    const socket = this.socketFacts();
    return {
      ...core,
      address: { ...this.address },
      drops: {
        ...core.drops,
        injected,
        lossHeldOverflow: this.held.dropped,
        sendErrors: this.counters.sendErrors,
        kernelReceiveBuffer: socket.kernelReceiveDrops,
      },
      loss: lossStats,
      socket: {
        receiveBufferBytes: socket.receiveBufferBytes,
        sendBufferBytes: socket.sendBufferBytes,
        datagramsSent: this.counters.datagramsSent,
        bytesSent: this.counters.bytesSent,
        sendQueueStalls: this.counters.sendQueueStalls,
      },
    };
  }

  /** Facts only the open socket can tell; kept from the moment it closes so stats stay meaningful afterwards. */
  private socketFacts(): { receiveBufferBytes: number; sendBufferBytes: number; kernelReceiveDrops: number | null } {
    if (this.lastSocketFacts !== null) return this.lastSocketFacts;
    return {
      receiveBufferBytes: this.socket.getRecvBufferSize(),
      sendBufferBytes: this.socket.getSendBufferSize(),
      kernelReceiveDrops: kernelReceiveDrops(this.address.port, this.family),
    };
  }

  /**
   * Closes every connection at once (a CLOSE goes to each peer; close
   * connections first for a graceful drain), then the socket.
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closing = this.shutDown();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Sends what the connections have queued now, instead of on the endpoint's
   * next turn. For a caller that already gathers its own sends per turn of
   * the event loop (the broker's peer links): waiting one more turn would
   * only add a loop iteration to every hop.
   */
  flushNow(): void {
    if (this.socketClosed) return;
    this.flush();
  }

  private async shutDown(): Promise<void> {
    this.core.closeAll(this.clock.nowMs(), new SkeinError('ENDPOINT_CLOSED', { message: 'the endpoint closed' }));
    this.flush();
    // Give the CLOSE datagrams a moment to leave the socket's queue before it is torn down.
    for (let i = 0; i < 50 && this.socket.getSendQueueCount() > 0; i++) await sleep(2);
    this.clearTimer();
    this.held.clear();
    this.lastSocketFacts = this.socketFacts();
    this.socketClosed = true;
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  // ------------------------------------------------------------ ConnectionDriver

  wake(): void {
    if (this.flushScheduled || this.socketClosed) return;
    this.flushScheduled = true;
    setImmediate(this.flushFromImmediate);
  }

  requestDelivery(connection: Connection): void {
    this.deliveries.push(connection);
    this.wake();
  }

  // ------------------------------------------------------------ the loop

  private readonly onMessage = (message: Buffer, remote: dgram.RemoteInfo): void => {
    const nowMs = this.clock.nowMs();
    // The armed timer's deadline stands for the earliest one here: settling every connection's per datagram would cost.
    this.noteTurn(nowMs, this.timerDeadlineMs);
    this.readsSinceCheck++;
    if (this.lossOnReceive) {
      const peer = peerAddress(remote.address, remote.port);
      for (const delayMs of this.loss!.decide(nowMs, peer.key, message.length, 'receive')) {
        if (delayMs <= 0) this.core.handleDatagram(nowMs, message, remote.address, remote.port);
        else this.held.hold(nowMs + delayMs, message, peer, 'receive');
      }
    } else {
      this.core.handleDatagram(nowMs, message, remote.address, remote.port);
    }
    this.wake();
  };

  private readonly onSocketError = (): void => {
    this.counters.sendErrors++;
  };

  private readonly onSendDone = (error: Error | null): void => {
    if (error) this.counters.sendErrors++;
  };

  private readonly flushFromImmediate = (): void => {
    this.flushScheduled = false;
    // A turn's immediates run right after it polled the socket: the moment to see whether it was emptied.
    if (!this.core.isListening) this.checkCaughtUp(this.clock.nowMs());
    this.flush();
  };

  private readonly flushFromTimer = (): void => {
    this.cancelTimer = null;
    this.timerDeadlineMs = Infinity;
    this.flush();
  };

  /**
   * Called first in every turn. A deadline overdue by more than a timer's
   * slack means the loop was blocked, and Node runs timers before it reads
   * the socket: datagrams that arrived meanwhile are still unread. The core
   * stops counting silence from the start of the last turn (when the socket
   * was last read) until checkCaughtUp sees it read dry.
   */
  private noteTurn(nowMs: number, earliestDeadlineMs: number): void {
    const core = this.core;
    if (core.isListening && nowMs - earliestDeadlineMs > transportLimits.loopStallMsMin) {
      core.stopListening(this.lastTurnMs);
      this.catchUpStartedMs = nowMs;
      this.readsSinceCheck = 0;
      this.wake();
    }
    this.lastTurnMs = nowMs;
  }

  /** After a stall: the last poll read fewer datagrams than a turn can, so the socket is empty and silence counts again. */
  private checkCaughtUp(nowMs: number): void {
    if (this.readsSinceCheck < transportLimits.socketReadsPerTurnMax || nowMs - this.catchUpStartedMs > transportLimits.stallCatchUpMsMax) {
      this.core.resumeListening(nowMs);
      return;
    }
    this.readsSinceCheck = 0;
    this.wake();
  }

  /** One turn of work: due held datagrams, timers, events, then everything the core wants to send. */
  private flush(): void {
    if (this.socketClosed) return;
    const core = this.core;
    let nowMs = this.clock.nowMs();
    this.noteTurn(nowMs, core.pollTimeout());
    this.releaseHeld(nowMs);
    if (core.pollTimeout() <= nowMs) core.handleTimeout(nowMs);
    for (let round = 0; round < 8; round++) {
      const events = this.dispatchEvents();
      const sent = this.transmit(nowMs);
      if (events === 0 && sent === 0) break;
      nowMs = this.clock.nowMs();
    }
    this.armTimer(this.clock.nowMs());
  }

  private releaseHeld(nowMs: number): void {
    for (let item = this.held.takeDue(nowMs); item !== null; item = this.held.takeDue(nowMs)) {
      if (item.direction === 'receive') this.core.handleDatagram(nowMs, item.bytes, item.peer.host, item.peer.port);
      else this.sendNow(item.bytes, item.peer);
    }
  }

  /** Sends until the core has nothing ready or the socket's own queue is full. */
  private transmit(nowMs: number): number {
    const core = this.core;
    const socket = this.socket;
    let sent = 0;
    for (;;) {
      // Check the socket's queue every few datagrams: the kernel refusing more means wait, not pile up in libuv.
      if ((sent & 15) === 0 && socket.getSendQueueCount() >= transportLimits.socketSendQueueMax) {
        this.counters.sendQueueStalls++;
        this.wake();
        return sent;
      }
      const room = this.slab.take();
      const transmit = core.pollTransmit(nowMs, room);
      if (transmit === null) return sent;
      const bytes = this.slab.commit(room, transmit.length);
      sent++;
      if (this.lossOnSend) {
        for (const delayMs of this.loss!.decide(nowMs, transmit.peer.key, bytes.length, 'send')) {
          if (delayMs <= 0) this.sendNow(bytes, transmit.peer);
          else this.held.hold(nowMs + delayMs, bytes, transmit.peer, 'send');
        }
      } else {
        this.sendNow(bytes, transmit.peer);
      }
    }
  }

  private sendNow(bytes: Uint8Array, peer: PeerAddress): void {
    this.counters.datagramsSent++;
    this.counters.bytesSent += bytes.length;
    this.socket.send(bytes, peer.port, peer.host, this.onSendDone);
  }

  private dispatchEvents(): number {
    let count = 0;
    for (let connection = this.deliveries.pop(); connection !== undefined; connection = this.deliveries.pop()) {
      connection.deliver();
      count++;
    }
    for (let event = this.core.pollEvent(); event !== null; event = this.core.pollEvent()) {
      count++;
      const core = event.connection;
      switch (event.type) {
        case 'readable':
          this.shells.get(core)?.deliver();
          break;
        case 'writable':
          this.shells.get(core)?.drainWaiters();
          break;
        case 'connected': {
          const pending = this.connects.get(core);
          const shell = this.shells.get(core);
          this.connects.delete(core);
          if (pending !== undefined && shell !== undefined) {
            pending.cleanup();
            pending.resolve(shell);
          }
          break;
        }
        case 'accepted': {
          const shell = new Connection(core, this);
          this.shells.set(core, shell);
          if (this.acceptHandler === null) this.acceptedBeforeHandler.push(shell);
          else this.handOut(this.acceptHandler, shell);
          break;
        }
        case 'closed': {
          const shell = this.shells.get(core);
          this.shells.delete(core);
          const pending = this.connects.get(core);
          if (pending !== undefined) {
            this.connects.delete(core);
            pending.cleanup();
            pending.reject(event.error ?? new SkeinError('CONNECTION_CLOSED', { message: 'closed during the handshake' }));
          }
          if (shell !== undefined) {
            const index = this.acceptedBeforeHandler.indexOf(shell);
            if (index >= 0) this.acceptedBeforeHandler.splice(index, 1);
            shell.onCoreClosed(event.error);
          }
          break;
        }
      }
    }
    return count;
  }

  private armTimer(nowMs: number): void {
    const deadline = Math.min(this.core.pollTimeout(), this.held.nextDueMs);
    if (deadline === Infinity) {
      this.clearTimer();
      return;
    }
    // Node timers cannot wait less than a millisecond; a sooner deadline (the pacer's, mostly) is met by
    // running the loop again right after pending I/O instead of oversleeping and wasting send time.
    if (deadline - nowMs < timerResolutionMs) {
      this.wake();
      return;
    }
    // A timer already set for an earlier time will run the loop, which re-arms: no need to touch it.
    if (this.cancelTimer !== null && this.timerDeadlineMs <= deadline) return;
    this.clearTimer();
    this.timerDeadlineMs = deadline;
    this.cancelTimer = this.clock.after(Math.max(1, Math.ceil(deadline - nowMs)), this.flushFromTimer);
  }

  private clearTimer(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
    this.timerDeadlineMs = Infinity;
  }
}
