import { SkeinError } from '../errors.js';
import { transportLimits } from '../limits.js';
import { type EndpointSettings, type EndpointCoreOptions, resolveEndpointSettings } from './endpoint-settings.js';
import { type PeerAddress, peerAddress } from './address.js';
import { type ConnectionEventKind, ConnectionCore, type ConnectionHost } from './connection-core.js';
import { Admission } from './admission.js';
import { ClientBudgets } from './budgets.js';
import { PaceShare } from './pace-share.js';
import { CookieMinter, cookieMacBytes } from './cookie.js';
import { DeadlineHeap } from './deadline-heap.js';
import { Fifo } from './fifo.js';
import type { CoreEnvironment } from './environment.js';
import {
  ConnectionId,
  connectionIdBytes,
  dataHeaderBytes,
  longHeaderBytes,
  packetType,
  protocolVersion,
  readCookie,
  readParameters,
  refuseReason,
  type TransportParameters,
  writeRefuse,
  writeReset,
  writeRetry,
} from './packet.js';
import {
  addCounters,
  type ConnectionCounters,
  emptyConnectionCounters,
  emptyDropCounters,
  type EndpointCoreStats,
  type EndpointDropCounters,
} from './stats.js';
import { DecodeError, Reader } from './varint.js';

export type EndpointEvent =
  | { type: 'connected' | 'accepted' | 'readable' | 'writable'; connection: ConnectionCore }
  | { type: 'closed'; connection: ConnectionCore; error: SkeinError | undefined };

/** A datagram to send: valid until the next call to pollTransmit (the object is reused). */
export interface Transmit {
  peer: PeerAddress;
  length: number;
}

interface StatelessReply {
  bytes: Uint8Array;
  peer: PeerAddress;
}

/**
 * Many connections on one socket, as a pure state machine: demultiplexes
 * datagrams by connection id, runs the stateless cookie handshake for
 * incoming connections, and schedules which connection sends next and when
 * the single timer must fire. The shell (transport/endpoint.ts) feeds it
 * datagrams and the time, and sends what it hands back.
 *
 * Before a client proves its address with a cookie the endpoint allocates
 * nothing for it, and answers it with fewer bytes than it sent (the INIT is
 * padded to datagramBytesMin; RETRY and REFUSE are a few dozen bytes).
 */
export class EndpointCore implements ConnectionHost {
  readonly settings: EndpointSettings;
  private readonly connections = new Map<number, ConnectionCore>();
  /** Connections by the id their peer chose (see remember), for the peer's RESET to find. */
  private readonly byRemoteCid = new Map<string, ConnectionCore>();
  /** Server connections whose client has not yet confirmed, by "host|port|clientCid": repeated INITs find them. */
  private readonly pending = new Map<string, ConnectionCore>();
  /** Cookies that opened a connection (by their MAC) → when they expire; oldest first. */
  private readonly usedCookies = new Map<string, number>();
  private readonly cookies: CookieMinter;
  private readonly admission: Admission;
  private readonly budgets: ClientBudgets;
  private readonly paceShares: PaceShare;
  private readonly heap = new DeadlineHeap<ConnectionCore>();
  private readonly candidates: ConnectionCore[] = [];
  private candidateCursor = 0;
  /** Connections touched since deadlines were last settled (slots reused; `dirtyCount` is the length). */
  private readonly dirty: (ConnectionCore | null)[] = [];
  private dirtyCount = 0;
  /** Time the shell could not read its socket, in total, and since when it cannot now (NaN: it can). */
  private deafTotalMs = 0;
  private deafSinceMs = NaN;
  private readonly events = new Fifo<EndpointEvent>();
  private readonly replies = new Fifo<StatelessReply>();
  private readonly transmit: Transmit = { peer: peerAddress('0.0.0.0', 0), length: 0 };
  private readonly reader = new Reader();
  private readonly cidBytes = new Uint8Array(connectionIdBytes);
  /** Announced connections' counters once they are gone, so endpoint totals never go backwards. */
  private readonly retired: ConnectionCounters = emptyConnectionCounters();
  readonly drops: EndpointDropCounters = emptyDropCounters();
  private readonly totals = {
    connectionsAccepted: 0,
    connectionsConnected: 0,
    connectionsClosed: 0,
    retriesSent: 0,
    datagramsReceived: 0,
    /** Stretches in which the shell could not read its socket (its event loop was blocked). */
    stalls: 0,
    /** Packets taken from a server we dialled that answers from another of its addresses (see answersFromOtherAddress). */
    repliesFromOtherAddress: 0,
    resetsSent: 0,
    resetsReceived: 0,
  };

  constructor(
    options: EndpointCoreOptions,
    private readonly env: CoreEnvironment,
  ) {
    this.settings = resolveEndpointSettings(options);
    this.cookies = new CookieMinter(env, transportLimits.cookieLifetimeMs);
    this.admission = new Admission({ connectionsMax: this.settings.connectionsMax, connectionsPerAddressMax: this.settings.connectionsPerAddressMax });
    this.budgets = new ClientBudgets(this.settings, this.drops, (connection) => this.emit(connection, 'writable'));
    this.paceShares = new PaceShare(
      this.settings.receivePaceBytes,
      transportLimits.receivePaceSendersFull,
      Math.max(transportLimits.receivePaceShareBytesMin, 4 * this.settings.datagramBytes),
      transportLimits.receivePaceSharePeriodMs,
    );
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Server connections allocated but not yet confirmed by their client. */
  get pendingCount(): number {
    return this.pending.size;
  }

  // ------------------------------------------------------------ the listening clock

  /**
   * The shell could not read the socket from `sinceMs` on (its event loop was
   * blocked): until resumeListening, no silence counts against a peer. The
   * shell only learns of a stall afterwards (a timer overdue), so `sinceMs` is
   * in the past: the start of its last turn, when it last read.
   */
  stopListening(sinceMs: number): void {
    if (!Number.isNaN(this.deafSinceMs)) return;
    this.deafSinceMs = sinceMs;
    this.totals.stalls++;
    this.markAllDirty();
  }

  /** The shell has read what waited in the socket: silence counts again from `nowMs`. */
  resumeListening(nowMs: number): void {
    if (Number.isNaN(this.deafSinceMs)) return;
    this.deafTotalMs += Math.max(0, nowMs - this.deafSinceMs);
    this.deafSinceMs = NaN;
    this.markAllDirty();
  }

  get isListening(): boolean {
    return Number.isNaN(this.deafSinceMs);
  }

  listenMs(nowMs: number): number {
    const deafMs = Number.isNaN(this.deafSinceMs) ? this.deafTotalMs : this.deafTotalMs + Math.max(0, nowMs - this.deafSinceMs);
    return nowMs - deafMs;
  }

  wallMsAtListen(listenMs: number): number {
    return Number.isNaN(this.deafSinceMs) ? listenMs + this.deafTotalMs : Infinity;
  }

  // ------------------------------------------------------------ the client budgets (see budgets.ts)

  paceShare(connection: ConnectionCore, nowMs: number): number {
    return this.budgets.isBudgeted(connection) ? this.paceShares.onData(connection, nowMs) : Infinity;
  }

  receiveRoom(connection: ConnectionCore, bytes: number, nowMs: number): boolean {
    return this.budgets.receiveRoom(connection, bytes, nowMs, this.connections.values());
  }

  receiveHeldChanged(connection: ConnectionCore, delta: number): void {
    if (this.isTracked(connection)) this.budgets.receiveHeldChanged(connection, delta);
  }

  sendBudgetRoom(connection: ConnectionCore): number {
    return this.budgets.sendRoom(connection);
  }

  sendHeldChanged(connection: ConnectionCore, delta: number): void {
    if (this.isTracked(connection)) this.budgets.sendHeldChanged(connection, delta);
  }

  wantSendBudget(connection: ConnectionCore): void {
    this.budgets.wantSendRoom(connection);
  }

  /** A connection turned out to be a priority peer (it proved itself a broker of our cluster after it was accepted). */
  promote(connection: ConnectionCore): void {
    this.budgets.promote(connection, this.isTracked(connection));
  }

  /** Bytes clients' connections hold in reassembly now. */
  get receiveHeldBytes(): number {
    return this.budgets.receiveHeldBytes;
  }

  /** Bytes clients' connections hold for sending now. */
  get sendHeldBytes(): number {
    return this.budgets.sendHeldBytes;
  }

  /** Whether the connection is still in the table (a forgotten one's late changes no longer count). */
  private isTracked(connection: ConnectionCore): boolean {
    return this.connections.get(connection.localCid.key) === connection;
  }

  private markAllDirty(): void {
    for (const connection of this.connections.values()) this.markDirty(connection);
  }

  // ------------------------------------------------------------ ConnectionHost

  activate(connection: ConnectionCore): void {
    if (!connection.isCandidate) {
      connection.isCandidate = true;
      this.candidates.push(connection);
    }
    this.markDirty(connection);
  }

  private markDirty(connection: ConnectionCore): void {
    if (!connection.isDirty) {
      connection.isDirty = true;
      this.dirty[this.dirtyCount++] = connection;
    }
  }

  emit(connection: ConnectionCore, kind: ConnectionEventKind): void {
    if (kind === 'closed') {
      // A server connection the application never saw ends silently.
      if (connection.role === 'server' && !connection.peerConfirmed) return;
      this.events.push({ type: 'closed', connection, error: connection.closeError });
      return;
    }
    if (kind === 'accepted') this.totals.connectionsAccepted++;
    if (kind === 'connected') this.totals.connectionsConnected++;
    if (kind === 'accepted' || kind === 'connected') this.pending.delete(this.pendingKeyOf(connection));
    if (kind === 'accepted') this.admission.confirmed(connection);
    this.events.push({ type: kind, connection });
  }

  // ------------------------------------------------------------ input

  /**
   * One datagram from `host:port`. The core keeps views into `bytes` (for
   * messages and out-of-order data), so the caller must not reuse the buffer.
   */
  handleDatagram(nowMs: number, bytes: Uint8Array, host: string, port: number): void {
    this.totals.datagramsReceived++;
    const length = bytes.length;
    if (length === 0) {
      this.drops.malformed++;
      return;
    }
    if (bytes[0] === packetType.data) {
      if (length <= dataHeaderBytes) {
        this.drops.malformed++;
        return;
      }
      const connection = this.connections.get(ConnectionId.keyAt(bytes, 1));
      if (connection === undefined || connection.localCid.hi !== ConnectionId.hiAt(bytes, 1)) {
        this.drops.unknownConnection++;
        this.sendReset(host, port, bytes);
        return;
      }
      const peer = connection.peer;
      if ((peer.port !== port || peer.host !== host) && !this.answersFromOtherAddress(connection, host, port)) {
        this.drops.addressMismatch++;
        return;
      }
      const malformedBefore = connection.counters.malformedPackets;
      connection.handleData(nowMs, bytes);
      if (connection.counters.malformedPackets !== malformedBefore) this.drops.malformed++;
      this.activate(connection);
      return;
    }
    if (length < longHeaderBytes) {
      this.drops.malformed++;
      return;
    }
    try {
      this.handleLongHeader(nowMs, bytes, host, port);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      this.drops.malformed++;
    }
  }

  private handleLongHeader(nowMs: number, bytes: Uint8Array, host: string, port: number): void {
    const reader = this.reader;
    reader.reset(bytes, 0, bytes.length);
    const type = reader.u8();
    const version = reader.u32();
    const cid = ConnectionId.read(reader);
    if (type === packetType.init) {
      this.handleInit(nowMs, bytes, reader, version, cid, host, port);
      return;
    }
    if (type === packetType.reset) {
      if (version !== protocolVersion) throw new DecodeError('version mismatch');
      this.handleReset(cid, host, port);
      return;
    }
    if (type !== packetType.retry && type !== packetType.accept && type !== packetType.refuse) {
      this.drops.malformed++;
      return;
    }
    // Replies to our own INIT: for a client connection still in its handshake, from the address we dialled.
    const connection = this.connections.get(cid.key);
    if (connection === undefined || !connection.localCid.equals(cid) || connection.role !== 'client') {
      this.drops.unknownConnection++;
      return;
    }
    if ((connection.peer.port !== port || connection.peer.host !== host) && !this.answersFromOtherAddress(connection, host, port)) {
      this.drops.addressMismatch++;
      return;
    }
    if (type === packetType.refuse) {
      // A REFUSE about the version may carry another version; anything else must match ours.
      const reason = reader.u8();
      if (version !== protocolVersion && reason !== refuseReason.version) throw new DecodeError('version mismatch');
      connection.handleRefuse(reason);
    } else {
      if (version !== protocolVersion) throw new DecodeError('version mismatch');
      if (type === packetType.retry) {
        connection.handleRetry(nowMs, readCookie(reader));
      } else {
        const serverCid = ConnectionId.read(reader);
        connection.handleAccept(nowMs, serverCid, readParameters(reader));
        this.remember(connection);
      }
    }
    this.activate(connection);
  }

  private handleInit(
    nowMs: number,
    bytes: Uint8Array,
    reader: Reader,
    version: number,
    clientCid: ConnectionId,
    host: string,
    port: number,
  ): void {
    // Anything we answer is smaller than this, so a spoofed source cannot use us to amplify.
    if (bytes.length < transportLimits.datagramBytesMin) {
      this.drops.initTooShort++;
      return;
    }
    if (version !== protocolVersion) {
      this.drops.badVersion++;
      this.reply(host, port, (out) => writeRefuse(out, clientCid, refuseReason.version));
      return;
    }
    const cookie = readCookie(reader);
    const params = readParameters(reader);
    if (!this.settings.acceptConnections) {
      this.drops.refused++;
      this.reply(host, port, (out) => writeRefuse(out, clientCid, refuseReason.notAccepting));
      return;
    }
    if (cookie.length === 0) {
      this.sendRetry(nowMs, host, port, clientCid);
      return;
    }
    const verdict = this.cookies.verify(nowMs, cookie, host, port, clientCid);
    if (verdict === 'forged') {
      this.drops.badCookie++;
      return;
    }
    const pendingKey = `${host}|${port}|${clientCid.toString()}`;
    const existing = this.pending.get(pendingKey);
    if (existing !== undefined) {
      // Our ACCEPT was lost and the client asks again with the same cookie.
      existing.resendAccept(nowMs);
      return;
    }
    if (verdict === 'expired') {
      this.drops.expiredCookie++;
      this.sendRetry(nowMs, host, port, clientCid);
      return;
    }
    const cookieKey = macKey(cookie);
    this.forgetExpiredCookies(nowMs);
    if (this.usedCookies.has(cookieKey)) {
      this.drops.replayedCookie++;
      return;
    }
    this.admit(nowMs, { host, port, clientCid, params, cookieKey, pendingKey });
  }

  /** A valid INIT with a cookie never used: a new connection, unless the endpoint has no room for it. */
  private admit(
    nowMs: number,
    init: { host: string; port: number; clientCid: ConnectionId; params: TransportParameters; cookieKey: string; pendingKey: string },
  ): void {
    const { host, port, clientCid, cookieKey } = init;
    const priority = this.settings.isPriorityPeer(host, port);
    const admission = this.admission.decide(host, port, priority, this.connections.size);
    if (!admission.admit || this.usedCookies.size >= transportLimits.usedCookiesMax) {
      this.drops.refused++;
      this.reply(host, port, (out) => writeRefuse(out, clientCid, refuseReason.busy));
      return;
    }
    for (const old of admission.evict) this.evict(old);
    this.usedCookies.set(cookieKey, nowMs + 2 * transportLimits.cookieLifetimeMs);
    const connection = new ConnectionCore('server', this.newConnectionId(), clientCid, peerAddress(host, port), this.settings, this, nowMs);
    connection.priority = priority;
    connection.cookieKey = cookieKey;
    connection.acceptFrom(nowMs, init.params);
    this.connections.set(connection.localCid.key, connection);
    this.remember(connection);
    this.pending.set(init.pendingKey, connection);
    this.admission.added(connection);
    this.activate(connection);
  }

  /**
   * Drops a connection at once, without a word to its peer, to make room
   * (see Admission): the oldest of a socket's connections, or a set-up that
   * was never confirmed. A half-open one's cookie may open a connection again,
   * so a real client whose ACCEPT was lost is not locked out by the eviction.
   */
  private evict(connection: ConnectionCore): void {
    this.drops.evicted++;
    if (!connection.peerConfirmed && connection.cookieKey !== null) this.usedCookies.delete(connection.cookieKey);
    connection.abandon(new SkeinError('CONNECTION_CLOSED', { message: `evicted to make room for a newer connection from ${connection.peer.key}` }));
    this.forget(connection);
  }

  /**
   * DATA for no connection of ours: its sender holds a connection we do not
   * (we restarted, or closed it and forgot it) and would wait for silence to
   * tell it so. RESET says it at once. It is smaller than the DATA it answers
   * (no amplification), goes through the bounded queue of stateless replies,
   * and is never itself answered (no loops). Like any packet it is not
   * authenticated: only someone who saw the connection's id, and could as
   * well forge its CLOSE, can forge it.
   */
  private sendReset(host: string, port: number, data: Uint8Array): void {
    const cid = new ConnectionId(ConnectionId.hiAt(data, 1), ConnectionId.hiAt(data, 5));
    if (this.reply(host, port, (out) => writeReset(out, cid))) this.totals.resetsSent++;
  }

  /** A RESET closes the connection it names only when it comes from that connection's peer. */
  private handleReset(cid: ConnectionId, host: string, port: number): void {
    const connection = this.byRemoteCid.get(cid.toString());
    if (connection === undefined) {
      this.drops.unknownConnection++;
      return;
    }
    const peer = connection.peer;
    const fromPeer = peer.port === port && (peer.host === host || (connection.role === 'client' && connection.answeredFrom === host));
    if (!fromPeer) {
      this.drops.addressMismatch++;
      return;
    }
    this.totals.resetsReceived++;
    connection.handleReset();
  }

  /** Indexes a connection by its peer's id once it knows it (for handleReset). */
  private remember(connection: ConnectionCore): void {
    if (connection.remoteCid !== null) this.byRemoteCid.set(connection.remoteCid.toString(), connection);
  }

  /**
   * A server we dialled may answer from another of its addresses: bound to
   * 0.0.0.0 on a host with several, its replies leave from the address the
   * kernel routes by, not the one we dialled, and dropping them cut the
   * server off (issue 10). A reply from the same port of another address is
   * taken when it names our connection by the id we chose (64 random bits
   * only someone who saw our packets knows, the same proof a packet from the
   * dialled address gives, since UDP sources are not authenticated). We keep
   * sending to the address we dialled, so there is no new path to validate
   * (RFC 9000 §9 validates a path before sending on it). Counted, and the
   * connection names the address it answers from.
   */
  private answersFromOtherAddress(connection: ConnectionCore, host: string, port: number): boolean {
    if (connection.role !== 'client' || connection.peer.port !== port) return false;
    connection.answeredFrom = host;
    this.totals.repliesFromOtherAddress++;
    return true;
  }

  private sendRetry(nowMs: number, host: string, port: number, clientCid: ConnectionId): void {
    const cookie = this.cookies.mint(nowMs, host, port, clientCid);
    if (this.reply(host, port, (out) => writeRetry(out, clientCid, cookie))) this.totals.retriesSent++;
  }

  private reply(host: string, port: number, write: (out: Uint8Array) => number): boolean {
    if (this.replies.length >= transportLimits.statelessRepliesQueuedMax) {
      this.drops.statelessRepliesDropped++;
      return false;
    }
    const out = new Uint8Array(longHeaderBytes + 1 + 64);
    const length = write(out);
    this.replies.push({ bytes: out.subarray(0, length), peer: peerAddress(host, port) });
    return true;
  }

  private forgetExpiredCookies(nowMs: number): void {
    for (const [key, expiresMs] of this.usedCookies) {
      if (expiresMs > nowMs) break;
      this.usedCookies.delete(key);
    }
  }

  private pendingKeyOf(connection: ConnectionCore): string {
    return `${connection.peer.host}|${connection.peer.port}|${connection.remoteCid?.toString() ?? ''}`;
  }

  private newConnectionId(): ConnectionId {
    for (;;) {
      this.env.randomFill(this.cidBytes);
      const cid = ConnectionId.fromBytes(this.cidBytes);
      if (!this.connections.has(cid.key)) return cid;
    }
  }

  // ------------------------------------------------------------ application

  /** Starts a client connection to an IP address; 'connected' or 'closed' follows. */
  connect(nowMs: number, host: string, port: number, handshakeTimeoutMs?: number): ConnectionCore {
    const connection = new ConnectionCore('client', this.newConnectionId(), null, peerAddress(host, port), this.settings, this, nowMs);
    if (handshakeTimeoutMs !== undefined) connection.limitHandshake(nowMs + handshakeTimeoutMs);
    this.connections.set(connection.localCid.key, connection);
    this.activate(connection);
    return connection;
  }

  /** Closes every connection with `error` (CLOSE frames go out on the next pollTransmit). */
  closeAll(nowMs: number, error: SkeinError): void {
    for (const connection of this.connections.values()) connection.close(nowMs, error);
  }

  pollEvent(): EndpointEvent | null {
    const event = this.events.shift();
    if (event === undefined) return null;
    if (event.type === 'readable') event.connection.readableSignaled = false;
    return event;
  }

  // ------------------------------------------------------------ output and time

  /**
   * Writes the next datagram into `out` (at least the datagram size long):
   * stateless replies first, then connections round-robin. Returns null when
   * nothing is ready now.
   */
  pollTransmit(nowMs: number, out: Uint8Array): Transmit | null {
    const transmit = this.transmit;
    const reply = this.replies.shift();
    if (reply !== undefined) {
      out.set(reply.bytes);
      transmit.peer = reply.peer;
      transmit.length = reply.bytes.length;
      return transmit;
    }
    const candidates = this.candidates;
    while (candidates.length > 0) {
      if (this.candidateCursor >= candidates.length) this.candidateCursor = 0;
      const index = this.candidateCursor;
      const connection = candidates[index]!;
      const length = connection.writePacket(nowMs, out);
      this.markDirty(connection);
      if (length > 0) {
        this.candidateCursor = index + 1;
        transmit.peer = connection.peer;
        transmit.length = length;
        return transmit;
      }
      // Nothing more from this one until something changes: drop it from the rotation.
      const last = candidates.pop()!;
      if (index < candidates.length) candidates[index] = last;
      connection.isCandidate = false;
    }
    this.settleDirty();
    return null;
  }

  /** Runs the timers of every connection whose deadline has passed. */
  handleTimeout(nowMs: number): void {
    this.settleDirty();
    const heap = this.heap;
    for (;;) {
      const connection = heap.peek();
      if (connection === undefined || connection.heapDeadlineMs > nowMs) break;
      heap.remove(connection);
      connection.handleTimeout(nowMs);
      this.activate(connection);
    }
  }

  /** The earliest time handleTimeout has work (Infinity: none). */
  pollTimeout(): number {
    this.settleDirty();
    return this.heap.earliestMs;
  }

  /** Recomputes deadlines of touched connections and forgets the closed ones. */
  private settleDirty(): void {
    const dirty = this.dirty;
    for (let i = 0; i < this.dirtyCount; i++) {
      const connection = dirty[i]!;
      dirty[i] = null;
      connection.isDirty = false;
      if (connection.state === 'closed') {
        this.forget(connection);
        continue;
      }
      this.heap.set(connection, connection.deadlineMs());
    }
    this.dirtyCount = 0;
  }

  private forget(connection: ConnectionCore): void {
    this.heap.remove(connection);
    if (this.connections.get(connection.localCid.key) !== connection) return;
    this.connections.delete(connection.localCid.key);
    const remoteKey = connection.remoteCid?.toString();
    if (remoteKey !== undefined && this.byRemoteCid.get(remoteKey) === connection) this.byRemoteCid.delete(remoteKey);
    if (connection.role === 'server') this.admission.removed(connection);
    this.budgets.forget(connection);
    if (connection.role === 'server' && !connection.peerConfirmed) {
      this.pending.delete(this.pendingKeyOf(connection));
      return;
    }
    this.totals.connectionsClosed++;
    addCounters(this.retired, connection.counters);
  }

  // ------------------------------------------------------------ stats

  connectionsList(): IterableIterator<ConnectionCore> {
    return this.connections.values();
  }

  stats(): EndpointCoreStats {
    const sum = emptyConnectionCounters();
    addCounters(sum, this.retired);
    let open = 0;
    for (const connection of this.connections.values()) {
      if (connection.role === 'server' && !connection.peerConfirmed) continue;
      addCounters(sum, connection.counters);
      if (!connection.isTerminated) open++;
    }
    const memory = {
      reassemblyBytes: this.budgets.receiveHeldBytes,
      reassemblyBytesMax: this.settings.reassemblyBytesMax,
      sendBytes: this.budgets.sendHeldBytes,
      sendBytesMax: this.settings.sendBytesMax,
    };
    return { ...sum, ...this.totals, connectionsOpen: open, memory, drops: { ...this.drops } };
  }
}

/**
 * A verified cookie's identity: its MAC, which covers the decoded fields (epoch, timestamp, address, client
 * id), not the bytes that carried them. Keyed by bytes, a used cookie re-encoded (a varint in a longer form)
 * would have passed for a fresh one; the varint reader refuses such forms too.
 */
function macKey(cookie: Uint8Array): string {
  let key = '';
  for (let i = cookie.length - cookieMacBytes; i < cookie.length; i++) key += String.fromCharCode(cookie[i]!);
  return key;
}
