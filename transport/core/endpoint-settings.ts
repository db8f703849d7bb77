import { SkeinError } from '../errors.js';
import { transportLimits } from '../limits.js';
import type { CongestionAlgorithm } from './congestion.js';
import { messagePrefixBytesMax } from './send-stream.js';

/** Endpoint options a user may choose; everything else comes from transportLimits. */
export interface EndpointCoreOptions {
  /** Accept incoming connections (a broker does; a client need not). Default false. */
  acceptConnections?: boolean;
  /** Largest datagram sent: 1200 (default, safe on the internet) up to 65,507 on loopback/LAN. */
  datagramBytes?: number;
  /** Largest message, both ways. Default 16 MiB. */
  messageBytesMax?: number;
  /** 'newreno' (default) or 'fixed' (a constant window: loss is not taken as congestion). */
  congestion?: CongestionAlgorithm;
  /** Window of the 'fixed' mode; default 800 datagrams, at most 2 MiB (960,000 B for 1200 B datagrams). */
  fixedWindowBytes?: number;
  /** Close a connection after this long without hearing from the peer; 0 = never. Default 30 s. */
  idleTimeoutMs?: number;
  /** Send a PING after this long without traffic, so an idle connection stays alive; 0 = never. Default 5 s. */
  keepaliveMs?: number;
  /**
   * Declare the peer dead after this long without a packet from it while something we sent waits for an
   * answer; 0 (default) = only the idle timeout decides. A peer's process that died sends nothing (a
   * restarted one answers with RESET; the ICMP of a closed port never reaches Node), so this is how a
   * client notices a crashed server in seconds. On a link losing a third of everything, five seconds of unanswered probes do happen, and the
   * connection is then closed: a caller that cannot reconnect and retry should leave it off.
   */
  deadPeerTimeoutMs?: number;
  /** Give up connecting after this long. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** How long a graceful close waits for queued data. Default 10 s. */
  closeTimeoutMs?: number;
  /** Per-connection bounded send buffer (send() waits beyond it). Default 32 MiB. */
  sendBufferBytes?: number;
  /** Per-connection receive window (flow-control credit). Default 32 MiB. */
  receiveWindowBytes?: number;
  /**
   * A client's connection (on a server) gets credit this far beyond what it has sent that arrived, within
   * the receive window; 0 grants the whole window at once. Default 256 KiB (see transportLimits.receivePaceBytesDefault).
   */
  receivePaceBytes?: number;
  /** Connections served at once; further set-ups are refused. Default 4096. */
  connectionsMax?: number;
  /** Incoming connections from one IP address at once (any port); further set-ups from it are refused. Default 256. */
  connectionsPerAddressMax?: number;
  /**
   * Whether a set-up from `host:port` comes from a priority peer (a broker of our own cluster): such
   * connections may use the slots kept from clients and are exempt from the per-address limit and the
   * memory budgets. Default: none.
   */
  isPriorityPeer?: (host: string, port: number) => boolean;
  /** Bytes clients' connections may hold in reassembly together (see EndpointCore.receiveRoom). Default 256 MiB. */
  reassemblyBytesMax?: number;
  /** Bytes clients' connections may hold for sending together (see EndpointCore.sendBudgetRoom). Default 256 MiB. */
  sendBytesMax?: number;
}

/** The options with every default filled in and every value checked: what the cores run on. */
export type EndpointSettings = Required<EndpointCoreOptions>;

const noPriorityPeers = (): boolean => false;

function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new SkeinError('INVALID_CONFIG', { message: `${name} must be an integer in [${min}, ${max}], got ${String(value)}` });
  }
  return value;
}

/** 0 (no pacing), or room for a few datagrams: credit that moves in smaller steps than a datagram would stall the sender. */
function checkPace(value: number, datagramBytes: number): number {
  if (value === 0) return 0;
  return checkInteger('receivePaceBytes', value, 4 * datagramBytes, 2 ** 40);
}

/** Fills defaults and checks every option; throws INVALID_CONFIG naming the bad one. */
export function resolveEndpointSettings(options: EndpointCoreOptions = {}): EndpointSettings {
  const L = transportLimits;
  const datagramBytes = checkInteger('datagramBytes', options.datagramBytes ?? L.datagramBytesDefault, L.datagramBytesMin, L.datagramBytesMax);
  const messageBytesMax = checkInteger('messageBytesMax', options.messageBytesMax ?? L.messageBytesDefault, 0, L.messageBytesMax);
  // One largest message (with its length prefix) must fit both buffers, or it could never be sent or received.
  const messageStreamBytes = messageBytesMax + messagePrefixBytesMax;
  const sendBufferBytes = checkInteger(
    'sendBufferBytes',
    options.sendBufferBytes ?? Math.max(L.sendBufferBytesDefault, messageStreamBytes),
    messageStreamBytes,
    2 ** 40,
  );
  const receiveWindowBytes = checkInteger(
    'receiveWindowBytes',
    options.receiveWindowBytes ?? Math.max(L.receiveWindowBytesDefault, messageStreamBytes),
    Math.max(messageStreamBytes, L.datagramBytesMin),
    2 ** 40,
  );
  const congestion = options.congestion ?? 'newreno';
  if (congestion !== 'newreno' && congestion !== 'fixed') {
    throw new SkeinError('INVALID_CONFIG', { message: `congestion must be 'newreno' or 'fixed', got ${String(congestion)}` });
  }
  const idleTimeoutMs = checkInteger('idleTimeoutMs', options.idleTimeoutMs ?? L.idleTimeoutMsDefault, 0, 24 * 3600 * 1000);
  return {
    acceptConnections: options.acceptConnections ?? false,
    datagramBytes,
    messageBytesMax,
    congestion,
    fixedWindowBytes: checkInteger(
      'fixedWindowBytes',
      options.fixedWindowBytes ?? Math.min(L.fixedWindowBytesDefault, L.fixedWindowPacketsDefault * datagramBytes),
      2 * datagramBytes,
      2 ** 40,
    ),
    idleTimeoutMs,
    keepaliveMs: checkInteger('keepaliveMs', options.keepaliveMs ?? L.keepaliveMsDefault, 0, 24 * 3600 * 1000),
    deadPeerTimeoutMs: checkInteger('deadPeerTimeoutMs', options.deadPeerTimeoutMs ?? L.deadPeerTimeoutMsDefault, 0, 24 * 3600 * 1000),
    handshakeTimeoutMs: checkInteger('handshakeTimeoutMs', options.handshakeTimeoutMs ?? L.handshakeTimeoutMsDefault, 1, 3600 * 1000),
    closeTimeoutMs: checkInteger('closeTimeoutMs', options.closeTimeoutMs ?? L.closeTimeoutMsDefault, 0, 3600 * 1000),
    sendBufferBytes,
    receiveWindowBytes,
    receivePaceBytes: checkPace(options.receivePaceBytes ?? L.receivePaceBytesDefault, datagramBytes),
    connectionsMax: checkInteger('connectionsMax', options.connectionsMax ?? L.connectionsPerEndpointMax, 1, L.connectionsPerEndpointMax),
    connectionsPerAddressMax: checkInteger(
      'connectionsPerAddressMax',
      options.connectionsPerAddressMax ?? L.connectionsPerAddressMaxDefault,
      1,
      L.connectionsPerEndpointMax,
    ),
    isPriorityPeer: options.isPriorityPeer ?? noPriorityPeers,
    reassemblyBytesMax: checkInteger('reassemblyBytesMax', options.reassemblyBytesMax ?? L.reassemblyBytesMaxDefault, L.reassemblyBytesGuaranteed, 2 ** 40),
    sendBytesMax: checkInteger('sendBytesMax', options.sendBytesMax ?? L.sendBytesMaxDefault, L.sendBytesGuaranteed, 2 ** 40),
  };
}
