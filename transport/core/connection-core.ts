import { SkeinError } from '../errors.js';
import { transportLimits } from '../limits.js';
import { AckTracker } from './ack-tracker.js';
import type { PeerAddress } from './address.js';
import type { EndpointSettings } from './endpoint-settings.js';
import { FixedWindow, NewReno, type CongestionController } from './congestion.js';
import {
  type AckFrame,
  emptyFrameFields,
  encodeClose,
  frameType,
  maxDataFrameBytes,
  readClose,
  readFrame,
  streamFrameHeaderBytes,
  writeAck,
  writeMaxData,
  writeStreamHeader,
} from './frames.js';
import {
  type ConnectionId,
  dataHeaderBytes,
  readDataPacketNumber,
  refuseReason,
  type TransportParameters,
  writeAccept,
  writeDataHeader,
  writeInit,
} from './packet.js';
import { decodePacketNumber, truncatePacketNumber } from './packet-number.js';
import { Pacer } from './pacer.js';
import { type ReceiveResult, receiveResult, ReceiveStream } from './receive-stream.js';
import { LossRecovery, type LossRecoveryListener } from './loss-recovery.js';
import { PathPace } from './path-pace.js';
import { RttEstimator } from './rtt.js';
import { messagePrefixBytesMax, SendStream } from './send-stream.js';
import { packetFlag, packetState, SentPackets } from './sent-packets.js';
import { type ConnectionCounters, type ConnectionStats, emptyConnectionCounters } from './stats.js';
import { DecodeError, Reader } from './varint.js';

/**
 * handshake: the client is sending INITs; open: data flows; flushing: the
 * application asked to close and queued data is still being delivered;
 * closing: our CLOSE went out; draining: the peer's CLOSE came in; closed:
 * nothing more happens and the endpoint forgets the connection.
 */
export type ConnectionState = 'handshake' | 'open' | 'flushing' | 'closing' | 'draining' | 'closed';

export type ConnectionEventKind = 'connected' | 'accepted' | 'readable' | 'writable' | 'closed';

/** How a connection talks to its endpoint (which owns the tables, the event queue and the timers). */
export interface ConnectionHost {
  /** The connection may have something to send, and its deadline may have moved. */
  activate(connection: ConnectionCore): void;
  emit(connection: ConnectionCore, kind: ConnectionEventKind): void;
  /**
   * The listening clock at wall time `nowMs`: wall time less every stretch in which the endpoint could not
   * read its socket (a blocked event loop). A peer's silence is measured on it, so datagrams that sat unread
   * in the socket buffer while this process was busy never make a healthy peer look dead.
   */
  listenMs(nowMs: number): number;
  /** The wall time at which the listening clock reaches `listenMs` (Infinity while the endpoint cannot listen). */
  wallMsAtListen(listenMs: number): number;
  /** This paced client's data arrived at `nowMs`: the fixed part of its pace now (its share while many send; see PaceShare). */
  paceShare(connection: ConnectionCore, nowMs: number): number;
  /** The bytes the connection's receive stream holds changed by `delta` (see EndpointCore's reassembly budget). */
  receiveHeldChanged(connection: ConnectionCore, delta: number): void;
  /** Whether the connection may take `bytes` more of its peer's data now; false drops the packet unacknowledged. */
  receiveRoom(connection: ConnectionCore, bytes: number, nowMs: number): boolean;
  /** The bytes the connection holds for sending (buffered, waiting, reserved) changed by `delta`. */
  sendHeldChanged(connection: ConnectionCore, delta: number): void;
  /** Bytes the endpoint's send budget lets this connection add now (Infinity: it is outside the budget). */
  sendBudgetRoom(connection: ConnectionCore): number;
  /** Emit 'writable' for the connection once the send budget frees room. */
  wantSendBudget(connection: ConnectionCore): void;
  /** The connection proved it belongs to a priority peer: it leaves the budgets (see EndpointCore.promote). */
  promote(connection: ConnectionCore): void;
}

export type SendOutcome = 'queued' | 'full';

/** Why the peer broke the protocol, for each violation ReceiveStream reports. */
function streamViolation(result: ReceiveResult): string {
  if (result === receiveResult.flowViolation) return 'stream data beyond the granted credit';
  if (result === receiveResult.malformed) return 'a message length in a longer form than it needs';
  return 'a message above the agreed size limit';
}

/**
 * One connection as a pure state machine (sans-IO, in the style of
 * quinn-proto): the endpoint feeds it packets and timeouts with the current
 * time, and polls it for packets to send. Nothing in here reads a clock,
 * sets a timer or touches a socket.
 */
export class ConnectionCore implements LossRecoveryListener {
  state: ConnectionState;
  /** Why it closed; undefined while open and after a clean close. */
  closeError: SkeinError | undefined;
  remoteCid: ConnectionId | null;
  readonly counters: ConnectionCounters = emptyConnectionCounters();

  // Endpoint bookkeeping (deadline heap slot, send-candidate and dirty flags).
  heapIndex = -1;
  heapDeadlineMs = Infinity;
  isCandidate = false;
  isDirty = false;
  /** A priority peer (a broker of our own cluster): exempt from the limits that protect the endpoint from clients. */
  priority = false;
  /** Client: the address the server answers from when it is not the one dialled (null: the one dialled). */
  answeredFrom: string | null = null;
  /** Server: the key of the cookie that opened it (see EndpointCore.evict). */
  cookieKey: string | null = null;
  /** Bytes held for sending (the send stream's plus sendExtraBytes), as last told to the host. */
  sendHeld = 0;
  /** Bytes the application holds for this connection outside the send stream: messages waiting for room, room reserved. */
  private sendExtraBytes = 0;
  /** Bytes the receive stream holds, as last told to the host. */
  receiveHeld = 0;
  /** Since when the receive stream has held bytes without completing a message (Infinity: it holds none). */
  receiveStuckSinceMs = Infinity;
  /** Since when data waits in the send stream with none of it acknowledged (Infinity: none waits, or it moved). */
  sendStuckSinceMs = Infinity;
  /** The PaceShare period in which this connection's data last arrived. */
  paceSharePeriod = -1;
  private receiveCompletedSeen = 0;
  /** Set while a readable / writable event is queued and not yet polled. */
  readableSignaled = false;
  writableWanted = false;

  private readonly rtt: RttEstimator;
  /** A paced client's credit follows its path (null: not paced, our own connection or a priority peer). */
  private pathPace: PathPace | null;
  private readonly sent: SentPackets;
  private readonly pacer: Pacer;
  private readonly ackTracker: AckTracker;
  private readonly sendStream: SendStream;
  private readonly receiveStream: ReceiveStream;
  private recovery: LossRecovery | null = null;
  private readonly reader = new Reader();
  private readonly frame = emptyFrameFields(transportLimits.ackRangesMax);

  /** Datagram size in use: ours, lowered to the peer's limit once known. */
  private datagramBytes: number;
  /** Largest message the peer accepts (its limit, capped by ours). */
  private sendMessageBytesMax: number;
  /** Highest stream offset the peer lets us send (its byte credit). */
  private peerCreditLimit = 0;
  private peerAckDelayMaxMs: number = transportLimits.ackDelayMaxMs;
  private idleTimeoutMs: number;
  private keepaliveMs: number;

  // Control frames waiting for the next packet.
  private maxDataPending = false;
  private pingPending = false;
  private probesPending = 0;
  private closeFrame: Uint8Array | null = null;
  private closeSendPending = false;
  private closeAttempts = 0;
  private closeRetryAtMs = Infinity;
  private ackOnlySinceEliciting = 0;

  // Handshake.
  private initCookie: Uint8Array | null = null;
  private initDue = false;
  private initAttempts = 0;
  private initSentMs = -Infinity;
  private initRetryAtMs = Infinity;
  private handshakeDeadlineMs: number;
  /** Server: ACCEPT must go out (again); cleared when the client's first DATA packet confirms it. */
  acceptPending = false;
  peerConfirmed = false;
  private acceptSentMs = -Infinity;
  /** Server: the client's parameters, echoed in every ACCEPT. */
  private localParams: TransportParameters;

  // Time.
  private readonly createdMs: number;
  private openedMs = -Infinity;
  private lastReceiveMs: number;
  /**
   * The same two moments on the endpoint's listening clock (ConnectionHost.listenMs), which the idle and
   * dead-peer verdicts use: silence only counts while the endpoint could have heard the peer.
   */
  private heardListenMs: number;
  /** When the first ack-eliciting packet since the peer was last heard went out (Infinity: nothing waits). */
  private unansweredSinceListenMs = Infinity;
  private lastElicitingSentMs = -Infinity;
  private pacerReleaseMs = Infinity;
  private closeDeadlineMs = Infinity;
  private flushDeadlineMs = Infinity;

  constructor(
    readonly role: 'client' | 'server',
    readonly localCid: ConnectionId,
    remoteCid: ConnectionId | null,
    readonly peer: PeerAddress,
    private readonly settings: EndpointSettings,
    private readonly host: ConnectionHost,
    nowMs: number,
  ) {
    this.remoteCid = remoteCid;
    this.createdMs = nowMs;
    this.lastReceiveMs = nowMs;
    this.heardListenMs = host.listenMs(nowMs);
    this.datagramBytes = role === 'client' ? transportLimits.datagramBytesMin : settings.datagramBytes;
    this.sendMessageBytesMax = settings.messageBytesMax;
    this.idleTimeoutMs = settings.idleTimeoutMs;
    this.keepaliveMs = settings.keepaliveMs;
    this.handshakeDeadlineMs = nowMs + settings.handshakeTimeoutMs;
    this.rtt = new RttEstimator(transportLimits.initialRttMs);
    this.sent = new SentPackets(transportLimits.packetsInFlightMax);
    this.pacer = new Pacer({
      burstMs: transportLimits.pacingBurstMs,
      burstBytesMin: transportLimits.pacingBurstPacketsMin * settings.datagramBytes,
      burstBytesMax: transportLimits.pacingBurstPacketsMax * settings.datagramBytes,
    });
    this.ackTracker = new AckTracker({
      rangesMax: transportLimits.ackRangesMax,
      ackDelayMaxMs: transportLimits.ackDelayMaxMs,
      elicitingPacketsBeforeAck: transportLimits.ackElicitingPacketsBeforeAck,
    });
    this.sendStream = new SendStream(settings.sendBufferBytes, transportLimits.sendChunkBytes);
    this.receiveStream = new ReceiveStream({
      windowBytes: settings.receiveWindowBytes,
      messageBytesMax: settings.messageBytesMax,
      fragmentsMax: transportLimits.receiveFragmentsMax,
      queuedMessagesMax: transportLimits.receiveQueuedMessagesMax,
      preallocateBytesMax: transportLimits.reassemblyPreallocateBytesMax,
      // A server paces what its clients send (see ReceiveStream); acceptFrom lifts it for a priority peer.
      paceBytes: role === 'server' ? settings.receivePaceBytes : 0,
    });
    this.pathPace = role === 'server' && settings.receivePaceBytes > 0 ? new PathPace(transportLimits.receivePacePathGain, transportLimits.timerGranularityMs) : null;
    this.localParams = {
      messageBytesMax: settings.messageBytesMax,
      receiveWindowBytes: settings.receiveWindowBytes,
      datagramBytesMax: settings.datagramBytes,
      ackDelayMaxMs: transportLimits.ackDelayMaxMs,
      idleTimeoutMs: settings.idleTimeoutMs,
      initialCreditBytes: 0,
    };
    if (role === 'client') {
      this.state = 'handshake';
      this.initDue = true;
    } else {
      this.state = 'open';
      this.acceptPending = true;
    }
  }

  /** Hex of our connection id: the name the application sees. */
  get id(): string {
    return this.localCid.toString();
  }

  /** The largest message `send` takes on this connection. */
  get messageBytesMax(): number {
    return this.sendMessageBytesMax;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Bytes accepted by `send` and not yet acknowledged by the peer (stats() has it too, at the cost of a snapshot). */
  get sendBufferedBytes(): number {
    return this.sendStream.bufferedBytes;
  }

  /** Stream offset below which the peer acknowledged everything, and the offset where what `send` accepted ends. */
  get sendAckedOffset(): number {
    return this.sendStream.ackedOffset;
  }

  get sendWriteOffset(): number {
    return this.sendStream.writeOffset;
  }

  get isTerminated(): boolean {
    return this.state === 'closing' || this.state === 'draining' || this.state === 'closed';
  }

  // ------------------------------------------------------------ handshake

  /** Applies the peer's transport parameters; from here on data can flow. */
  private openWith(nowMs: number, params: TransportParameters): void {
    this.datagramBytes = Math.min(this.settings.datagramBytes, params.datagramBytesMax);
    // A message must fit the peer's size limit and, with its prefix, the peer's whole window.
    this.sendMessageBytesMax = Math.min(this.settings.messageBytesMax, params.messageBytesMax, params.receiveWindowBytes - messagePrefixBytesMax);
    // A pacing server gives less than its window at first; the window still bounds the message size.
    this.peerCreditLimit = params.initialCreditBytes > 0 ? params.initialCreditBytes : params.receiveWindowBytes;
    this.peerAckDelayMaxMs = params.ackDelayMaxMs;
    if (params.idleTimeoutMs > 0 && (this.idleTimeoutMs === 0 || params.idleTimeoutMs < this.idleTimeoutMs)) {
      this.idleTimeoutMs = params.idleTimeoutMs;
    }
    // Keepalives must come well before either side's idle timeout.
    if (this.keepaliveMs > 0 && this.idleTimeoutMs > 0) this.keepaliveMs = Math.min(this.keepaliveMs, this.idleTimeoutMs / 2);
    const cc: CongestionController =
      this.settings.congestion === 'fixed'
        ? new FixedWindow(this.settings.fixedWindowBytes)
        : new NewReno({
            datagramBytes: this.datagramBytes,
            initialWindowPackets: transportLimits.initialWindowPackets,
            minimumWindowPackets: transportLimits.minimumWindowPackets,
          });
    this.recovery = new LossRecovery(
      this.sent,
      this.rtt,
      cc,
      {
        packetThreshold: transportLimits.lossPacketThreshold,
        packetThresholdMax: transportLimits.lossPacketThresholdMax,
        reorderFractionMin: transportLimits.lossReorderFractionMin,
        reorderFractionMax: transportLimits.lossReorderFractionMax,
        lostRememberedMax: transportLimits.lossRememberedPacketsMax,
        timerGranularityMs: transportLimits.timerGranularityMs,
        persistentCongestionThreshold: transportLimits.persistentCongestionThreshold,
        ptoMaxMs: transportLimits.ptoMaxMs,
      },
      this.peerAckDelayMaxMs,
    );
    this.openedMs = nowMs;
  }

  /** Server side: set up from a validated INIT (after `priority` is known: a priority peer is not paced). */
  acceptFrom(nowMs: number, params: TransportParameters): void {
    this.openWith(nowMs, params);
    if (this.priority) {
      this.stopPacing();
    } else if (this.pathPace !== null) {
      // A crowd that connects at once is counted as it arrives, so its first credit is a share too.
      this.receiveStream.sharePace(this.host.paceShare(this, nowMs));
    }
    const credit = this.receiveStream.initialCredit();
    this.localParams = { ...this.localParams, initialCreditBytes: credit < this.settings.receiveWindowBytes ? credit : 0 };
  }

  handleRetry(nowMs: number, cookie: Uint8Array): void {
    if (this.state !== 'handshake') return;
    if (this.initAttempts === 1 && !this.rtt.hasSample) this.rtt.update(nowMs - this.initSentMs, 0);
    this.initCookie = cookie.slice();
    this.initDue = true;
    this.initAttempts = 0;
    this.host.activate(this);
  }

  handleAccept(nowMs: number, serverCid: ConnectionId, params: TransportParameters): void {
    if (this.state !== 'handshake') return;
    if (this.initAttempts === 1) this.rtt.update(nowMs - this.initSentMs, 0);
    this.remoteCid = serverCid;
    this.openWith(nowMs, params);
    this.state = 'open';
    this.heardFrom(nowMs);
    this.initDue = false;
    this.initRetryAtMs = Infinity;
    // The first DATA packet confirms the handshake to the server and gives it an RTT sample.
    this.pingPending = true;
    this.host.emit(this, 'connected');
    this.host.activate(this);
  }

  handleRefuse(reason: number): void {
    if (this.state !== 'handshake') return;
    const error =
      reason === refuseReason.version
        ? new SkeinError('UNSUPPORTED_VERSION', { message: 'the peer speaks another version of the skein transport' })
        : new SkeinError('CONNECTION_REFUSED', {
            message: reason === refuseReason.busy ? 'the peer has no room for another connection' : 'the peer does not accept connections',
          });
    this.terminate(error);
  }

  /**
   * The peer answered our DATA with RESET: it has no such connection (its
   * process restarted, or it closed this one and forgot it), so nothing we
   * send will ever be read. Closed at once, without a CLOSE nobody would read.
   */
  handleReset(): void {
    if (this.state === 'handshake' || this.state === 'closed') return;
    this.terminate(new SkeinError('CONNECTION_CLOSED', { message: 'the peer no longer knows this connection (its process restarted, or it closed the connection and forgot it)' }));
  }

  /** Brings the handshake deadline forward (a caller's connect timeout shorter than the endpoint's). */
  limitHandshake(deadlineMs: number): void {
    if (deadlineMs < this.handshakeDeadlineMs) {
      this.handshakeDeadlineMs = deadlineMs;
      this.host.activate(this);
    }
  }

  /** Server: the client sent INIT again (our ACCEPT was lost); answer it again. */
  resendAccept(nowMs: number): void {
    if (this.peerConfirmed || this.state !== 'open') return;
    // The client is alive, just not hearing us: its INIT restarts the wait for its confirmation.
    this.heardFrom(nowMs);
    this.handshakeDeadlineMs = nowMs + this.settings.handshakeTimeoutMs;
    this.acceptPending = true;
    this.host.activate(this);
  }

  // ------------------------------------------------------------ application side

  /**
   * Queues one message. 'full' means the send buffer has no room now (a
   * 'writable' event follows when it does); errors are thrown as SkeinError.
   */
  send(message: Uint8Array): SendOutcome {
    if (this.state !== 'open') {
      throw this.closeError ?? new SkeinError('CONNECTION_CLOSED', { message: `the connection is ${this.state}` });
    }
    if (message.length > this.sendMessageBytesMax) {
      throw new SkeinError('MESSAGE_TOO_LARGE', {
        message: `a message of ${message.length} bytes exceeds this connection's limit of ${this.sendMessageBytesMax}`,
        details: { bytes: message.length, limit: this.sendMessageBytesMax },
      });
    }
    if (this.sendStream.writeOffset + SendStream.encodedBytes(message.length) > transportLimits.streamBytesMax) {
      throw new SkeinError('CONNECTION_CLOSED', { message: 'the connection carried its lifetime maximum of bytes; open a new one' });
    }
    if (!this.sendStream.tryWrite(message)) {
      this.writableWanted = true;
      return 'full';
    }
    this.syncSendHeld();
    this.counters.messagesSent++;
    this.counters.messageBytesSent += message.length;
    this.host.activate(this);
    return 'queued';
  }

  /**
   * Bytes the application may queue now without waiting and without taking
   * more than this connection's share of the endpoint's memory: room in the
   * send buffer, less what is already waiting or reserved, within the send
   * budget (a client's connection on a server; see EndpointCore.sendBudgetRoom).
   */
  get sendRoomBytes(): number {
    if (this.state !== 'open') return 0;
    return Math.max(0, Math.min(this.sendBufferRoomBytes, this.host.sendBudgetRoom(this)));
  }

  /** Room in this connection's own send buffer, whatever the endpoint's budget leaves. */
  get sendBufferRoomBytes(): number {
    return this.settings.sendBufferBytes - this.sendStream.bufferedBytes - this.sendExtraBytes;
  }

  /** Whether the endpoint's send budget applies to this connection (a client's, on a server). */
  get sendBudgeted(): boolean {
    return this.host.sendBudgetRoom(this) !== Infinity;
  }

  /** The application holds `delta` more (or fewer) bytes for this connection outside the send stream. */
  adjustSendExtra(delta: number): void {
    this.sendExtraBytes = Math.max(0, this.sendExtraBytes + delta);
    this.syncSendHeld();
  }

  /** See ConnectionHost.promote. A priority peer gets its whole window now. */
  markPriority(): void {
    this.host.promote(this);
    this.stopPacing();
    this.offerCredit();
  }

  /** A priority peer's data is not paced: its whole window from now on. */
  private stopPacing(): void {
    this.receiveStream.unpace();
    this.pathPace = null;
  }

  /** Tells the peer of freed credit once enough has built up to be worth a frame. */
  private offerCredit(): void {
    if (!this.maxDataPending && !this.isTerminated && this.receiveStream.creditUpdateDue) {
      this.maxDataPending = true;
      this.host.activate(this);
    }
  }

  /** Asks for a 'writable' event once room may have grown (acknowledged data, or memory freed elsewhere). */
  wantSendRoom(): void {
    this.writableWanted = true;
    this.host.wantSendBudget(this);
  }

  private syncSendHeld(): void {
    if (this.sendStream.bufferedBytes === 0) this.sendStuckSinceMs = Infinity;
    const held = this.isTerminated ? 0 : this.sendStream.bufferedBytes + this.sendExtraBytes;
    if (held === this.sendHeld) return;
    const delta = held - this.sendHeld;
    this.sendHeld = held;
    this.host.sendHeldChanged(this, delta);
  }

  /** The next received message, in order, or null. Taking messages frees flow-control credit. */
  pollMessage(): Uint8Array | null {
    const message = this.receiveStream.poll();
    if (message === null) return null;
    this.syncReceiveHeld(this.lastReceiveMs);
    this.counters.messagesReceived++;
    this.counters.messageBytesReceived += message.length;
    this.offerCredit();
    return message;
  }

  get queuedMessages(): number {
    return this.receiveStream.queuedMessages;
  }

  /**
   * Closes. Without an error it is graceful: data already queued is delivered
   * first, within the close timeout. With an error the CLOSE goes out now.
   */
  close(nowMs: number, error?: SkeinError): void {
    if (this.isTerminated) return;
    if (this.state === 'handshake') {
      this.terminate(error ?? new SkeinError('CONNECTION_CLOSED', { message: 'closed before the handshake finished' }));
      return;
    }
    if (error === undefined) {
      if (this.state === 'flushing') return;
      this.state = 'flushing';
      this.flushDeadlineMs = nowMs + this.settings.closeTimeoutMs;
      this.maybeFinishFlush(nowMs);
      this.host.activate(this);
      return;
    }
    this.startClosing(nowMs, error.code, error.message, error);
  }

  private maybeFinishFlush(nowMs: number): void {
    if (this.state === 'flushing' && this.sendStream.isSettled) this.startClosing(nowMs, '', '', undefined);
  }

  /** Sends CLOSE and lingers a few PTOs so late packets meet a CLOSE instead of silence. */
  private startClosing(nowMs: number, code: string, reason: string, error: SkeinError | undefined): void {
    this.closeFrame = encodeClose(code, reason);
    this.closeSendPending = true;
    this.enterTerminal('closing', nowMs, error);
  }

  private enterTerminal(state: 'closing' | 'draining', nowMs: number, error: SkeinError | undefined): void {
    const wasTerminated = this.isTerminated;
    this.state = state;
    this.closeError = error;
    this.releaseBuffers();
    const lingerMs = transportLimits.closingPtoCount * this.ptoMs();
    // Closing keeps resending CLOSE until the peer answers with its own, for up to the close timeout: on a lossy
    // link a single CLOSE may well be lost, and the peer would otherwise only learn of it from its idle timeout.
    // Draining answers each CLOSE it gets and lingers long enough to absorb the closer's resends.
    this.closeDeadlineMs = nowMs + Math.max(lingerMs, state === 'closing' ? this.settings.closeTimeoutMs : transportLimits.drainingLingerMsMin);
    if (state === 'draining') {
      this.closeFrame = encodeClose('', '');
      this.closeSendPending = true;
    }
    if (!wasTerminated) this.host.emit(this, 'closed');
    this.host.activate(this);
  }

  private ptoMs(): number {
    return this.recovery?.ptoMs() ?? this.rtt.ptoBaseMs(transportLimits.timerGranularityMs, this.peerAckDelayMaxMs);
  }

  /** Closes at once without telling the peer: the endpoint needs the slot (see EndpointCore.evict). */
  abandon(error: SkeinError): void {
    this.terminate(error);
  }

  /** Closes at once without telling the peer (idle timeout, dead peer, refused or failed handshake). */
  private terminate(error: SkeinError | undefined): void {
    const wasTerminated = this.isTerminated;
    this.state = 'closed';
    this.closeError = error;
    this.releaseBuffers();
    if (!wasTerminated) this.host.emit(this, 'closed');
    this.host.activate(this);
  }

  /** A terminal state takes no more data: what could only have become a message is freed now, not when the endpoint forgets it. */
  private releaseBuffers(): void {
    this.receiveStream.releasePartial();
    this.syncReceiveHeld(this.lastReceiveMs);
    this.sendStream.discard();
    this.sendExtraBytes = 0;
    this.syncSendHeld();
  }

  /** Tells the host what the receive stream holds now, and notes whether it is making progress. */
  private syncReceiveHeld(nowMs: number): void {
    const stream = this.receiveStream;
    const held = stream.heldBytes;
    if (held === 0) this.receiveStuckSinceMs = Infinity;
    else if (this.receiveStuckSinceMs === Infinity || stream.completedMessages !== this.receiveCompletedSeen) this.receiveStuckSinceMs = nowMs;
    this.receiveCompletedSeen = stream.completedMessages;
    if (held !== this.receiveHeld) {
      const delta = held - this.receiveHeld;
      this.receiveHeld = held;
      this.host.receiveHeldChanged(this, delta);
    }
  }

  // ------------------------------------------------------------ receiving

  /** One DATA packet for this connection (header already matched). */
  handleData(nowMs: number, bytes: Uint8Array): void {
    const state = this.state;
    if (state === 'closed' || state === 'handshake') return;
    const tracker = this.ackTracker;
    const pn = decodePacketNumber(readDataPacketNumber(bytes), tracker.largest);
    this.counters.packetsReceived++;
    this.counters.bytesReceived += bytes.length;
    if (pn < tracker.floor || tracker.received.has(pn)) {
      this.counters.packetsDuplicate++;
      return;
    }
    if (state === 'closing' || state === 'draining') {
      this.answerWhileTerminating(bytes);
      return;
    }
    this.heardFrom(nowMs);
    if (!this.peerConfirmed && this.role === 'server') this.confirmPeer(nowMs);
    const ackEliciting = this.applyFrames(nowMs, bytes);
    if (ackEliciting === null) return;
    tracker.onPacket(pn, nowMs, ackEliciting);
    if (tracker.pending) this.host.activate(this);
  }

  /** A packet while closing or draining: only whether it carries a CLOSE matters. */
  private answerWhileTerminating(bytes: Uint8Array): void {
    const closes = this.carriesClose(bytes);
    if (this.state === 'closing' && closes) {
      // The peer closed too (or answered our CLOSE): nothing is left to say.
      this.state = 'closed';
    } else if (this.state === 'closing' || closes) {
      // Whatever the peer still sends meets our CLOSE again: it may have lost the first one.
      this.closeSendPending = true;
    }
    this.host.activate(this);
  }

  /** Server: the client's first DATA packet confirms the handshake (our ACCEPT arrived). */
  private confirmPeer(nowMs: number): void {
    this.peerConfirmed = true;
    this.acceptPending = false;
    if (!this.rtt.hasSample && this.acceptSentMs > -Infinity) this.rtt.update(nowMs - this.acceptSentMs, 0);
    this.host.emit(this, 'accepted');
  }

  /**
   * Applies the frames of a DATA packet in order. Returns whether the packet
   * asks for an ACK, or null when it must go unacknowledged: malformed (the
   * frames before the bad one were idempotent), without room for its data
   * (the peer resends it), or ending the connection.
   */
  private applyFrames(nowMs: number, bytes: Uint8Array): boolean | null {
    const reader = this.reader;
    const frame = this.frame;
    reader.reset(bytes, dataHeaderBytes, bytes.length);
    let ackEliciting = false;
    try {
      while (reader.pos < bytes.length) {
        const type = readFrame(reader, frame, transportLimits.ackRangesMax);
        if (type === frameType.stream) {
          ackEliciting = true;
          if (!this.receiveStreamFrame(nowMs, frame.streamOffset, frame.streamData)) return null;
        } else if (type === frameType.ack) {
          if (!this.handleAckFrame(nowMs, frame.ack)) return null;
        } else if (type === frameType.ping) {
          ackEliciting = true;
        } else if (type === frameType.maxData) {
          ackEliciting = true;
          if (frame.maxData > this.peerCreditLimit) this.peerCreditLimit = frame.maxData;
        } else if (type === frameType.close) {
          this.handleCloseFrame(nowMs, reader);
          return null;
        }
      }
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      this.counters.malformedPackets++;
      return null;
    }
    return ackEliciting;
  }

  /** Whether a packet holds a CLOSE frame (frames are read, not applied). */
  private carriesClose(bytes: Uint8Array): boolean {
    const reader = this.reader;
    reader.reset(bytes, dataHeaderBytes, bytes.length);
    try {
      while (reader.pos < bytes.length) {
        if (readFrame(reader, this.frame, transportLimits.ackRangesMax) === frameType.close) return true;
      }
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
    }
    return false;
  }

  /** Returns false when the packet must go unacknowledged: no room for the data now, or it broke the protocol. */
  private receiveStreamFrame(nowMs: number, offset: number, data: Uint8Array): boolean {
    const stream = this.receiveStream;
    // New data needs room in the endpoint's budget; without it the packet is dropped unacknowledged and resent later.
    if (offset + data.length > stream.contiguousEnd && !this.host.receiveRoom(this, data.length, nowMs)) return false;
    const result = stream.receive(offset, data);
    this.syncReceiveHeld(nowMs);
    if (result !== receiveResult.ok) {
      if (result !== receiveResult.noRoom) this.protocolViolation(nowMs, streamViolation(result));
      return false;
    }
    this.counters.bytesDuplicate = stream.duplicateBytes;
    // Paced credit moves as data arrives, and reaches as far ahead as the path holds.
    if (this.pathPace !== null) {
      stream.followPath(this.pathPace.onArrival(stream.arrivedBytes, nowMs, this.rtt.minMs));
      stream.sharePace(this.host.paceShare(this, nowMs));
    }
    this.offerCredit();
    if (!this.readableSignaled && stream.queuedMessages > 0) {
      this.readableSignaled = true;
      this.host.emit(this, 'readable');
    }
    return true;
  }

  private handleCloseFrame(nowMs: number, reader: Reader): void {
    const { code, reason } = readClose(reader);
    const error =
      code === '' ? undefined : new SkeinError('CONNECTION_CLOSED', { message: `the peer closed the connection: ${code}: ${reason}`, details: { peerCode: code } });
    this.enterTerminal('draining', nowMs, error);
  }

  /** Returns false when the ACK broke the protocol (the connection is then closing). */
  private handleAckFrame(nowMs: number, frame: AckFrame): boolean {
    if (frame.largest >= this.sent.nextPn) {
      this.protocolViolation(nowMs, 'an ACK for a packet never sent');
      return false;
    }
    const recovery = this.recovery;
    if (recovery === null) return true;
    const freedBefore = this.sendStream.ackedOffset;
    recovery.onAck(nowMs, frame.ranges, frame.rangeCount, frame.ackDelayUs / 1000, this);
    this.syncRecoveryCounters();
    if (this.sendStream.ackedOffset !== freedBefore) this.onSendBufferFreed(nowMs);
    return true;
  }

  private onSendBufferFreed(nowMs: number): void {
    this.sendStuckSinceMs = nowMs;
    this.syncSendHeld();
    if (this.writableWanted) {
      this.writableWanted = false;
      this.host.emit(this, 'writable');
    }
    this.maybeFinishFlush(nowMs);
  }

  private protocolViolation(nowMs: number, reason: string): void {
    this.startClosing(nowMs, 'PROTOCOL_VIOLATION', reason, new SkeinError('PROTOCOL_VIOLATION', { message: `the peer broke the protocol: ${reason}` }));
  }

  private syncRecoveryCounters(): void {
    const r = this.recovery!.counters;
    const c = this.counters;
    c.packetsLost = r.packetsLost;
    c.packetsLostSpuriously = r.packetsLostSpuriously;
    c.congestionEvents = r.congestionEvents;
    c.persistentCongestions = r.persistentCongestions;
  }

  // LossRecoveryListener: called by LossRecovery as packets are settled.
  onStreamAcked(offset: number, length: number): void {
    this.sendStream.onAcked(offset, length);
  }

  onStreamLost(offset: number, length: number): void {
    this.sendStream.onLost(offset, length);
  }

  onControlLost(flags: number): void {
    if ((flags & packetFlag.maxData) !== 0) this.maxDataPending = true;
  }

  onAckOfAck(largest: number): void {
    this.ackTracker.onAckOfAck(largest);
  }

  // ------------------------------------------------------------ sending

  /**
   * Writes the next packet into `out` (at least the datagram size long) and
   * returns its length, or 0 when there is nothing to send now.
   */
  writePacket(nowMs: number, out: Uint8Array): number {
    const state = this.state;
    if (state === 'closed') return 0;
    if (state === 'handshake') return this.writeInitPacket(nowMs, out);
    if (state === 'closing' || state === 'draining') return this.writeClosePacket(nowMs, out);
    if (this.acceptPending) {
      this.acceptPending = false;
      this.acceptSentMs = nowMs;
      return writeAccept(out, this.remoteCid!, this.localCid, this.localParams);
    }
    // Queued data gets here at once (send() activates the connection), so its wait is timed from now.
    if (this.sendStuckSinceMs === Infinity && this.sendStream.bufferedBytes > 0) this.sendStuckSinceMs = nowMs;
    const tracker = this.ackTracker;
    const ackDue = tracker.isDue(nowMs);
    const eliciting = this.mayElicit(nowMs);
    if (!eliciting && !ackDue) return 0;
    const headerEnd = writeDataHeader(out, this.remoteCid!, truncatePacketNumber(this.sent.nextPn));
    const pos = tracker.pending || ackDue ? this.writeAckFrame(nowMs, out, headerEnd, eliciting) : headerEnd;
    const ackLargest = pos > headerEnd ? tracker.received.max - 1 : -1;
    return eliciting ? this.writeElicitingFrames(nowMs, out, pos, ackLargest) : this.finishAckOnlyPacket(nowMs, out, pos, ackLargest);
  }

  /**
   * Whether the next packet may carry ack-eliciting frames: something waits
   * to go and the congestion window and the pacer let it (a probe goes
   * regardless). Notes when the pacer will.
   */
  private mayElicit(nowMs: number): boolean {
    const sent = this.sent;
    const sendStream = this.sendStream;
    const probe = this.probesPending > 0;
    this.pacerReleaseMs = Infinity;
    const waiting =
      probe ||
      this.maxDataPending ||
      this.pingPending ||
      sendStream.hasResend ||
      (sendStream.hasPending && sendStream.sentOffset < this.peerCreditLimit);
    if (!sent.hasRoom || !waiting) return false;
    if (probe) return true;
    const cc = this.recovery!.cc;
    if (sent.bytesInFlight >= cc.windowBytes) return false;
    const release = this.pacer.releaseTimeMs(nowMs, this.datagramBytes, cc.pacingRateBytesPerMs(this.rtt.smoothedMs));
    if (release <= nowMs) return true;
    this.pacerReleaseMs = release;
    return false;
  }

  /** Writes an ACK of what we received at `pos`; returns the position after it (`pos` when none fits). */
  private writeAckFrame(nowMs: number, out: Uint8Array, pos: number, eliciting: boolean): number {
    const tracker = this.ackTracker;
    const limit = this.datagramBytes;
    const ackDelayUs = (nowMs - tracker.largestTimeMs) * 1000;
    // In a packet that also carries data, an ACK takes at most a quarter of it (its newest ranges).
    const ackRoom = eliciting ? Math.min(limit >> 2, limit - pos - 64) : limit - pos;
    const next = writeAck(out, pos, ackRoom, tracker.received, ackDelayUs, transportLimits.ackRangesPerFrameMax);
    if (next > pos) tracker.onAckSent();
    return next;
  }

  /** Ends a packet that holds only an ACK; now and then adds a PING so the peer acknowledges our ACKs and we can forget old ranges. */
  private finishAckOnlyPacket(nowMs: number, out: Uint8Array, pos: number, ackLargest: number): number {
    const sent = this.sent;
    this.ackOnlySinceEliciting++;
    if (this.ackOnlySinceEliciting >= transportLimits.ackOnlyPacketsBeforePing && this.ackTracker.received.count > 1 && sent.hasRoom) {
      out[pos++] = frameType.ping;
      this.ackOnlySinceEliciting = 0;
      return this.finishPacket(nowMs, pos, packetFlag.ackEliciting | packetFlag.ping, 0, 0, ackLargest, false);
    }
    sent.record(nowMs, pos, 0, 0, 0, -1);
    this.counters.packetsSent++;
    this.counters.bytesSent += pos;
    this.counters.ackOnlyPacketsSent++;
    return pos;
  }

  /** Fills the rest of an ack-eliciting packet: MAX_DATA when due, then stream data (resends first), else a PING. */
  private writeElicitingFrames(nowMs: number, out: Uint8Array, pos: number, ackLargest: number): number {
    const sendStream = this.sendStream;
    const limit = this.datagramBytes;
    let flags = packetFlag.ackEliciting;
    if (this.maxDataPending && pos + maxDataFrameBytes(this.receiveStream.creditGranted + this.settings.receiveWindowBytes) <= limit) {
      pos = writeMaxData(out, pos, this.receiveStream.grantCredit());
      this.maxDataPending = false;
      flags |= packetFlag.maxData;
    }
    let streamOffset = 0;
    let streamLength = 0;
    let resent = false;
    const room = limit - pos - streamFrameHeaderBytes(sendStream.writeOffset, limit);
    if (room > 0 && sendStream.nextRange(room, this.peerCreditLimit)) {
      streamOffset = sendStream.rangeOffset;
      streamLength = sendStream.rangeLength;
      resent = sendStream.rangeIsResend;
      pos = writeStreamHeader(out, pos, streamOffset, streamLength);
      sendStream.copyOut(streamOffset, streamLength, out, pos);
      pos += streamLength;
    }
    if (flags === packetFlag.ackEliciting && streamLength === 0) {
      out[pos++] = frameType.ping;
      flags |= packetFlag.ping;
    }
    this.pingPending = false;
    if (this.probesPending > 0) {
      this.probesPending--;
      this.counters.probesSent++;
    }
    return this.finishPacket(nowMs, pos, flags, streamOffset, streamLength, ackLargest, resent);
  }

  private finishPacket(
    nowMs: number,
    bytes: number,
    flags: number,
    streamOffset: number,
    streamLength: number,
    ackLargest: number,
    resent: boolean,
  ): number {
    this.sent.record(nowMs, bytes, flags, streamOffset, streamLength, ackLargest);
    this.recovery!.cc.onSent(nowMs, bytes);
    this.pacer.onSent(bytes);
    this.lastElicitingSentMs = nowMs;
    if (this.unansweredSinceListenMs === Infinity) this.unansweredSinceListenMs = this.host.listenMs(nowMs);
    this.ackOnlySinceEliciting = 0;
    const c = this.counters;
    c.packetsSent++;
    c.bytesSent += bytes;
    if (resent) {
      c.packetsRetransmitted++;
      c.bytesRetransmitted += streamLength;
    }
    return bytes;
  }

  private writeInitPacket(nowMs: number, out: Uint8Array): number {
    if (!this.initDue) return 0;
    this.initDue = false;
    this.initAttempts++;
    this.initSentMs = nowMs;
    // After a RETRY the round trip is known; before it, a fixed start, doubling.
    const startMs = this.rtt.hasSample ? Math.max(2 * this.rtt.smoothedMs, transportLimits.timerGranularityMs) : transportLimits.handshakeRetryMsInitial;
    this.initRetryAtMs = nowMs + Math.min(startMs * 2 ** (this.initAttempts - 1), transportLimits.handshakeRetryMsMax);
    this.counters.packetsSent++;
    const bytes = writeInit(out, this.localCid, this.initCookie, this.localParams, transportLimits.datagramBytesMin);
    this.counters.bytesSent += bytes;
    return bytes;
  }

  private writeClosePacket(nowMs: number, out: Uint8Array): number {
    if (!this.closeSendPending || this.closeFrame === null || this.remoteCid === null) return 0;
    this.closeSendPending = false;
    if (this.state === 'closing') {
      this.closeAttempts++;
      this.closeRetryAtMs = nowMs + Math.min(this.ptoMs() * 2 ** (this.closeAttempts - 1), transportLimits.closeRetryMsMax);
    }
    const pos = writeDataHeader(out, this.remoteCid, truncatePacketNumber(this.sent.nextPn));
    out.set(this.closeFrame, pos);
    const bytes = pos + this.closeFrame.length;
    // Tracked like any packet so its number is never reused; a lost CLOSE is answered again when the peer speaks.
    this.sent.record(0, bytes, 0, 0, 0, -1);
    this.counters.packetsSent++;
    this.counters.bytesSent += bytes;
    return bytes;
  }

  // ------------------------------------------------------------ timers

  /** The earliest time `handleTimeout` has something to do (Infinity: none). */
  deadlineMs(): number {
    const state = this.state;
    if (state === 'closed') return Infinity;
    if (state === 'closing') return Math.min(this.closeDeadlineMs, this.closeRetryAtMs);
    if (state === 'draining') return this.closeDeadlineMs;
    if (state === 'handshake') return Math.min(this.handshakeDeadlineMs, this.initRetryAtMs);
    let deadline = this.host.wallMsAtListen(Math.min(this.idleAtListenMs(), this.deadPeerAtListenMs()));
    // A server holds an unconfirmed client for a bounded time, whatever the idle settings.
    if (this.role === 'server' && !this.peerConfirmed && this.handshakeDeadlineMs < deadline) deadline = this.handshakeDeadlineMs;
    const recoveryDeadline = this.recovery!.deadlineMs();
    if (recoveryDeadline < deadline) deadline = recoveryDeadline;
    const tracker = this.ackTracker;
    if (tracker.pending && tracker.deadlineMs < deadline) deadline = tracker.deadlineMs;
    const keepaliveAt = this.keepaliveAtMs();
    if (keepaliveAt < deadline) deadline = keepaliveAt;
    if (this.pacerReleaseMs < deadline) deadline = this.pacerReleaseMs;
    if (this.flushDeadlineMs < deadline) deadline = this.flushDeadlineMs;
    return deadline;
  }

  handleTimeout(nowMs: number): void {
    const state = this.state;
    if (state === 'closed') return;
    if (state === 'closing' || state === 'draining') {
      if (nowMs >= this.closeDeadlineMs) {
        this.state = 'closed';
      } else if (state === 'closing' && nowMs >= this.closeRetryAtMs) {
        this.closeRetryAtMs = Infinity;
        this.closeSendPending = true;
      }
      this.host.activate(this);
      return;
    }
    const listenMs = this.host.listenMs(nowMs);
    if (state !== 'handshake' && listenMs >= this.idleAtListenMs()) {
      const waiting = this.sent.ackElicitingInFlight > 0 || this.sendStream.hasPending;
      this.terminate(
        waiting
          ? new SkeinError('PEER_DEAD', { message: `nothing heard from the peer for ${this.idleTimeoutMs} ms` })
          : new SkeinError('CONNECTION_CLOSED', { message: `idle for ${this.idleTimeoutMs} ms` }),
      );
      return;
    }
    // A flushing connection waits for acknowledgements too: deadlineMs counts these deadlines for it, so they must fire.
    const established = state === 'open' || state === 'flushing';
    if (established && listenMs >= this.deadPeerAtListenMs()) {
      const silentMs = Math.round(listenMs - this.unansweredSinceListenMs);
      this.terminate(new SkeinError('PEER_DEAD', { message: `nothing heard from the peer for ${silentMs} ms of listening while waiting for an answer` }));
      return;
    }
    if (established && this.role === 'server' && !this.peerConfirmed && nowMs >= this.handshakeDeadlineMs) {
      this.terminate(new SkeinError('TIMEOUT', { message: `${this.peer.key} never confirmed the handshake within ${this.settings.handshakeTimeoutMs} ms` }));
      return;
    }
    if (state === 'handshake') {
      if (nowMs >= this.handshakeDeadlineMs) {
        this.terminate(new SkeinError('TIMEOUT', { message: `no handshake with ${this.peer.key} within ${Math.round(this.handshakeDeadlineMs - this.createdMs)} ms` }));
      } else if (nowMs >= this.initRetryAtMs) {
        this.initDue = true;
        this.initRetryAtMs = Infinity;
      }
      return;
    }
    if (nowMs >= this.flushDeadlineMs) {
      this.flushDeadlineMs = Infinity;
      this.startClosing(nowMs, 'TIMEOUT', 'close timed out with data unacknowledged', new SkeinError('TIMEOUT', {
        message: `queued data was not acknowledged within the close timeout of ${this.settings.closeTimeoutMs} ms`,
      }));
      return;
    }
    const recovery = this.recovery!;
    const outcome = recovery.onTimeout(nowMs, this);
    if (outcome !== null) this.syncRecoveryCounters();
    if (outcome === 'pto') {
      // Dead-peer detection is by time (the idle timeout); only without one does a run of probe timeouts decide.
      if (this.idleTimeoutMs === 0 && recovery.ptoCount > transportLimits.ptoBackoffMax) {
        this.terminate(new SkeinError('PEER_DEAD', { message: `${recovery.ptoCount} probe timeouts in a row without an answer` }));
        return;
      }
      this.onProbeTimeout();
    }
    if (nowMs >= this.keepaliveAtMs()) this.pingPending = true;
    if (this.pacerReleaseMs <= nowMs) this.pacerReleaseMs = Infinity;
    this.host.activate(this);
  }

  /** The peer was heard from (any packet of this connection): its silence starts again. */
  private heardFrom(nowMs: number): void {
    this.lastReceiveMs = nowMs;
    this.heardListenMs = this.host.listenMs(nowMs);
    this.unansweredSinceListenMs = Infinity;
  }

  /** On the listening clock: when the connection is idle if the peer stays silent (Infinity: no idle timeout). */
  private idleAtListenMs(): number {
    return this.idleTimeoutMs > 0 ? this.heardListenMs + this.idleTimeoutMs : Infinity;
  }

  /** On the listening clock: when the peer counts as dead if still silent (Infinity: nothing waits for it, or no dead-peer timeout). */
  private deadPeerAtListenMs(): number {
    const timeoutMs = this.settings.deadPeerTimeoutMs;
    return timeoutMs > 0 ? this.unansweredSinceListenMs + timeoutMs : Infinity;
  }

  /** When a keepalive PING is due (Infinity: none). With packets in flight the probe timeout already exercises the path. */
  private keepaliveAtMs(): number {
    if (this.keepaliveMs <= 0 || this.sent.ackElicitingInFlight > 0) return Infinity;
    return Math.max(this.lastReceiveMs, this.lastElicitingSentMs) + this.keepaliveMs;
  }

  /** Two probes: the oldest unacknowledged data again if there is no fresh data, else a PING (RFC 9002 §6.2.4). */
  private onProbeTimeout(): void {
    this.probesPending = 2;
    if (this.receiveStream.creditExtended) this.maxDataPending = true;
    if (this.sendStream.hasPending) return;
    const sent = this.sent;
    for (let pn = sent.oldestOutstanding; pn < sent.nextPn; pn++) {
      const slot = sent.slotOf(pn);
      if (slot >= 0 && sent.state[slot] === packetState.outstanding && sent.streamLength[slot]! > 0) {
        this.sendStream.onLost(sent.streamOffset[slot]!, sent.streamLength[slot]!);
        return;
      }
    }
  }

  // ------------------------------------------------------------ stats

  stats(nowMs: number): ConnectionStats {
    const recovery = this.recovery;
    const ageMs = nowMs - this.createdMs;
    const openMs = nowMs - this.openedMs;
    return {
      ...this.counters,
      state: this.state,
      rttSmoothedMs: this.rtt.smoothedMs,
      rttMinMs: this.rtt.minMs,
      rttVarianceMs: this.rtt.varianceMs,
      rttLatestMs: this.rtt.latestMs,
      congestionWindowBytes: recovery?.cc.windowBytes ?? 0,
      congestionPhase: recovery?.cc.phase ?? 'handshake',
      bytesInFlight: this.sent.bytesInFlight,
      ptoCount: recovery?.ptoCount ?? 0,
      sendBufferedBytes: this.sendStream.bufferedBytes,
      receiveBufferedBytes: this.receiveStream.bufferedBytes,
      goodputBytesPerSecond: openMs > 0 && Number.isFinite(openMs) ? (this.counters.messageBytesReceived * 1000) / openMs : 0,
      ageMs,
    };
  }
}
