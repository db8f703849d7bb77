import type { MessageChannel } from '../transport/channel.js';
import { type Clock, systemClock } from '../transport/clock.js';
import { isSkeinError, SkeinError } from '../transport/errors.js';
import { sdkLimits } from '../transport/limits.js';
import { methods, protocolVersion, type HelloResponse } from '../transport/protocol/messages.js';
import { RpcChannel } from '../transport/rpc/index.js';
import { abortable, withTimeout } from '../transport/abort.js';
import { formatAddress, type BrokerAddress } from './address.js';

/** Opens a reliable message channel to a broker (a transport Connection; in tests, an in-memory pair). */
export type Dialer = (address: BrokerAddress, options: { signal: AbortSignal; timeoutMs: number }) => Promise<MessageChannel>;

/** Receives the pushes of one subscription on a connection. */
export interface PushListener {
  push(body: unknown): void;
  pushEnd(body: unknown): void;
  /** The connection died: the subscription must go elsewhere. */
  connectionLost(error: SkeinError): void;
}

/**
 * One broker connection: a transport connection with an RPC channel on it,
 * greeted with `hello` before anything else. Pushes are routed to the
 * subscriptions registered on it by subscription id.
 */
export class BrokerConnection {
  readonly key: string;
  brokerId: number | null = null;
  private readonly listeners = new Map<number, PushListener>();
  private readonly closeHandlers: ((error: SkeinError) => void)[] = [];
  closedWith: SkeinError | null = null;
  readonly rpc: RpcChannel;
  /** Pushes that named no live subscription (late after an unsubscribe, or bogus). */
  strayPushes = 0;
  /** Told when the broker answers BROKER_REMOVED: it was decommissioned (see ConnectionPool). */
  onRemoved: ((error: SkeinError) => void) | null = null;

  constructor(
    readonly address: BrokerAddress,
    channel: MessageChannel,
    requestTimeoutMs: number,
  ) {
    this.key = formatAddress(address);
    this.rpc = new RpcChannel(channel, {
      timeoutMsDefault: requestTimeoutMs,
      onNotify: (method, body) => this.onNotify(method, body),
    });
    channel.onClose((reason) => this.lost(reason ?? new SkeinError('CONNECTION_CLOSED', { message: `the connection to broker ${this.key} closed` })));
  }

  get isOpen(): boolean {
    return this.closedWith === null && this.rpc.isOpen;
  }

  request<T>(method: string, body: unknown, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<T> {
    const answer = this.rpc.request<T>(method, body, options);
    if (this.onRemoved === null) return answer;
    return answer.catch((error: unknown) => {
      if (isSkeinError(error, 'BROKER_REMOVED')) this.onRemoved?.(error);
      throw error;
    });
  }

  notify(method: string, body: unknown): Promise<void> {
    return this.rpc.notify(method, body);
  }

  listen(subscriptionId: number, listener: PushListener): void {
    this.listeners.set(subscriptionId, listener);
  }

  unlisten(subscriptionId: number): void {
    this.listeners.delete(subscriptionId);
  }

  onClose(handler: (error: SkeinError) => void): void {
    this.closeHandlers.push(handler);
  }

  close(): Promise<void> {
    return this.abandon(new SkeinError('CLIENT_CLOSED', { message: 'the client closed the connection' }));
  }

  /** Closes the connection for `reason`: its subscriptions learn it, and its waiting requests fail with CONNECTION_CLOSED. */
  abandon(reason: SkeinError): Promise<void> {
    this.lost(reason);
    return this.rpc.close();
  }

  private onNotify(method: string, body: unknown): void {
    if (method !== methods.push && method !== methods.pushEnd) return;
    const id = typeof body === 'object' && body !== null ? (body as { subscriptionId?: unknown }).subscriptionId : undefined;
    const listener = typeof id === 'number' ? this.listeners.get(id) : undefined;
    if (listener === undefined) {
      this.strayPushes++;
      return;
    }
    if (method === methods.push) listener.push(body);
    else listener.pushEnd(body);
  }

  private lost(error: SkeinError): void {
    if (this.closedWith !== null) return;
    this.closedWith = error;
    const listeners = [...this.listeners.values()];
    this.listeners.clear();
    for (const listener of listeners) listener.connectionLost(error);
    for (const handler of this.closeHandlers) handler(error);
  }
}

export interface ConnectionPoolOptions {
  dial: Dialer;
  clientId: string;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  /** Where how long a decommissioned broker's address is left alone is read (a test moves it by hand); systemClock by default. */
  clock?: Pick<Clock, 'nowMs'>;
}

/**
 * One connection per broker address, dialled on first use and greeted with
 * `hello`. Concurrent callers share one dial; a dead connection leaves the
 * pool, and the next caller dials again.
 */
export class ConnectionPool {
  private readonly connections = new Map<string, Promise<BrokerConnection>>();
  private readonly live = new Set<BrokerConnection>();
  /** The connection each entry of `connections` resolved to, to drop it the moment it dies. */
  private readonly settled = new Map<string, BrokerConnection>();
  /** Replacements under way (see replace): at most one per connection. */
  private readonly replacing = new Map<BrokerConnection, Promise<boolean>>();
  private closed = false;
  /** Ends the dials under way when the client closes: a dial to a broker that is down would hold close() for its whole connectTimeoutMs. */
  private readonly closing = new AbortController();
  /**
   * Addresses whose broker answered BROKER_REMOVED (decommissioned), oldest first, with when: not dialled
   * again for sdkLimits.removedBrokerForgetMs (at most sdkLimits.removedBrokersMax remembered).
   */
  private readonly removed = new Map<string, { error: SkeinError; atMs: number }>();
  /** Dials made (tests check one connection per broker with it). */
  dials = 0;

  constructor(private readonly options: ConnectionPoolOptions) {}

  /** The open connection to `address`, dialling it first if needed (a new dial gives up after `dialTimeoutMs`, connectTimeoutMs by default). */
  get(address: BrokerAddress, signal?: AbortSignal, dialTimeoutMs?: number): Promise<BrokerConnection> {
    if (this.closed) return Promise.reject(new SkeinError('CLIENT_CLOSED', { message: 'the client is closed' }));
    const key = formatAddress(address);
    const removed = this.removedAt(key);
    if (removed !== undefined) return Promise.reject(removed.error);
    let pending = this.connections.get(key);
    if (pending === undefined) {
      const opened = this.open(address, dialTimeoutMs).then((connection) => this.adopt(connection));
      pending = opened;
      this.connections.set(key, opened);
      opened.catch(() => {
        if (this.connections.get(key) === opened) this.connections.delete(key);
      });
    }
    return abortable(pending, signal);
  }

  /**
   * Dials `connection`'s broker afresh, keeping `connection` meanwhile. If
   * the new dial succeeds within `timeoutMs`, it takes the old one's place,
   * which is abandoned with `reason`: a restarted broker answers its
   * predecessor's connections with RESET, but a RESET can be lost, and
   * only a new connection reaches it. Otherwise
   * (the broker is paused, or unreachable) nothing changes. Resolves whether
   * it replaced the connection. Callers that ask while a replacement of the
   * same connection runs share it: one dial, one successor.
   */
  replace(connection: BrokerConnection, reason: SkeinError, timeoutMs: number): Promise<boolean> {
    let running = this.replacing.get(connection);
    if (running === undefined) {
      running = this.dialBeside(connection, reason, timeoutMs).finally(() => this.replacing.delete(connection));
      this.replacing.set(connection, running);
    }
    return running;
  }

  private async dialBeside(connection: BrokerConnection, reason: SkeinError, timeoutMs: number): Promise<boolean> {
    const key = connection.key;
    if (this.closed || this.settled.get(key) !== connection) return false;
    let fresh: BrokerConnection;
    try {
      fresh = await this.open(connection.address, timeoutMs);
    } catch {
      return false;
    }
    // The pool may have moved on meanwhile (the old connection died and another caller dialled, or the client closed).
    if (this.closed || (this.settled.get(key) !== connection && this.connections.has(key))) {
      void fresh.close();
      return false;
    }
    this.connections.set(key, Promise.resolve(this.adopt(fresh)));
    void connection.abandon(reason).catch(() => undefined);
    return true;
  }

  /** Whether the broker at `address` said it was decommissioned, recently enough to leave it alone. */
  isRemoved(address: BrokerAddress): boolean {
    return this.removedAt(formatAddress(address)) !== undefined;
  }

  private removedAt(key: string): { error: SkeinError; atMs: number } | undefined {
    const entry = this.removed.get(key);
    if (entry === undefined || (this.options.clock ?? systemClock).nowMs() - entry.atMs < sdkLimits.removedBrokerForgetMs) return entry;
    this.removed.delete(key);
    return undefined;
  }

  /** The broker at `key` was decommissioned: its connection goes, and it is not dialled again for a while. */
  private markRemoved(key: string, error: SkeinError, connection?: BrokerConnection): void {
    this.removed.delete(key);
    this.removed.set(key, { error, atMs: (this.options.clock ?? systemClock).nowMs() });
    if (this.removed.size > sdkLimits.removedBrokersMax) this.removed.delete(this.removed.keys().next().value!);
    if (connection !== undefined) void connection.abandon(error).catch(() => undefined);
  }

  /** Open connections right now (metadata requests prefer them over dialling). */
  openConnections(): BrokerConnection[] {
    return [...this.live].filter((c) => c.isOpen);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort(new SkeinError('CLIENT_CLOSED', { message: 'the client is closed' }));
    const all = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(all.map((p) => p.then((c) => c.close()).catch(() => undefined)));
  }

  /** Dials and greets; the caller adopts the connection into the pool. */
  private async open(address: BrokerAddress, timeoutMs = this.options.connectTimeoutMs): Promise<BrokerConnection> {
    this.dials++;
    const key = formatAddress(address);
    // The dial is shared by every waiting caller, so no one caller's signal may cancel it: it has its own deadline.
    const deadline = withTimeout(this.closing.signal, timeoutMs, () => new DOMException(`connecting to ${key} timed out`, 'TimeoutError'));
    let channel: MessageChannel;
    try {
      channel = await this.options.dial(address, { signal: deadline.signal, timeoutMs });
    } catch (error) {
      throw connectError(key, error);
    } finally {
      deadline.dispose();
    }
    const connection = new BrokerConnection(address, channel, this.options.requestTimeoutMs);
    try {
      const hello = await connection.request<HelloResponse>(
        methods.hello,
        { version: protocolVersion, clientId: this.options.clientId },
        { timeoutMs },
      );
      if (hello?.version !== protocolVersion || typeof hello.brokerId !== 'number') {
        throw new SkeinError('UNSUPPORTED_VERSION', { message: `broker ${key} answered hello with protocol version ${String(hello?.version)}; this client speaks ${protocolVersion}` });
      }
      connection.brokerId = hello.brokerId;
    } catch (error) {
      void connection.close();
      if (isSkeinError(error, 'BROKER_REMOVED')) this.markRemoved(key, error);
      throw error;
    }
    if (this.closed) {
      void connection.close();
      throw new SkeinError('CLIENT_CLOSED', { message: 'the client closed while connecting' });
    }
    return connection;
  }

  /**
   * Makes `connection` the pool's connection to its address, handed out
   * until it dies (then its entry goes, and the next caller dials again).
   */
  private adopt(connection: BrokerConnection): BrokerConnection {
    const key = connection.key;
    this.live.add(connection);
    this.settled.set(key, connection);
    connection.onRemoved = (error) => this.markRemoved(key, error, connection);
    connection.onClose(() => {
      this.live.delete(connection);
      if (this.settled.get(key) === connection) {
        this.settled.delete(key);
        this.connections.delete(key);
      }
    });
    return connection;
  }
}

function connectError(key: string, error: unknown): SkeinError {
  // The dial's own deadline is a signal too: its abort is a timeout (retriable), not the caller giving up.
  const timedOut = (e: unknown): boolean => e instanceof Error && e.name === 'TimeoutError';
  if (error instanceof SkeinError && !(error.code === 'ABORTED' && timedOut(error.cause))) return error;
  if (timedOut(error) || (error instanceof SkeinError && timedOut(error.cause))) {
    return new SkeinError('TIMEOUT', { message: `connecting to broker ${key} timed out`, cause: error });
  }
  return new SkeinError('CONNECTION_REFUSED', { message: `could not connect to broker ${key}`, cause: error });
}
