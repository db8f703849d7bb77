import { transportLimits } from '../limits.js';
import { DecodeError, type Reader, writeU32, writeVarint } from './varint.js';

/**
 * Packet headers (binary; CBOR is for messages above the transport).
 *
 * Handshake packets carry the protocol version; DATA packets are lean:
 *   INIT    0x01 version(u32) clientCid(8) cookieLength(u8) cookie params... zero padding to datagramBytesMin
 *   RETRY   0x02 version(u32) clientCid(8) cookieLength(u8) cookie
 *   ACCEPT  0x03 version(u32) clientCid(8) serverCid(8) params...
 *   REFUSE  0x04 version(u32) clientCid(8) reason(u8)
 *   RESET   0x05 version(u32) cid(8)
 *   DATA    0x10 destinationCid(8) packetNumber(low 32 bits) frames...
 * Each side names the connection by the id it chose; a DATA packet carries
 * the receiver's id, so one socket demultiplexes many connections. RESET
 * answers a DATA packet naming a connection the receiver does not have (its
 * process restarted, or it closed the connection and forgot it) and echoes
 * the id that packet named: the sender's connection with that remote id is
 * dead, and UDP would otherwise leave it to learn so from silence.
 */
export const protocolVersion = 0x534b_4e01; // "SKN" 1
export const packetType = { init: 0x01, retry: 0x02, accept: 0x03, refuse: 0x04, reset: 0x05, data: 0x10 } as const;
export const connectionIdBytes = 8;
/** Where a DATA packet's packet number (its low 32 bits) starts: after the type byte and the receiver's id. */
const dataPacketNumberAt = 1 + connectionIdBytes;
export const dataHeaderBytes = dataPacketNumberAt + 4;
export const longHeaderBytes = 1 + 4 + connectionIdBytes;
export const cookieBytesMax = 64;

export const refuseReason = { busy: 1, notAccepting: 2, version: 3 } as const;

/**
 * A connection id: 64 random bits, held as two 32-bit halves. `key` is an
 * exact 53-bit number for Map lookups on the hot path; the endpoint keeps
 * keys unique and compares both halves on lookup.
 */
export class ConnectionId {
  readonly key: number;

  constructor(
    readonly hi: number,
    readonly lo: number,
  ) {
    this.key = (hi & 0x1f_ffff) * 0x1_0000_0000 + lo;
  }

  static keyAt(bytes: Uint8Array, pos: number): number {
    const hi = ((bytes[pos + 1]! & 0x1f) << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!;
    const lo = ((bytes[pos + 4]! << 24) | (bytes[pos + 5]! << 16) | (bytes[pos + 6]! << 8) | bytes[pos + 7]!) >>> 0;
    return hi * 0x1_0000_0000 + lo;
  }

  static hiAt(bytes: Uint8Array, pos: number): number {
    return ((bytes[pos]! << 24) | (bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!) >>> 0;
  }

  static read(reader: Reader): ConnectionId {
    const hi = reader.u32();
    return new ConnectionId(hi, reader.u32());
  }

  static fromBytes(bytes: Uint8Array): ConnectionId {
    const hi = ConnectionId.hiAt(bytes, 0);
    return new ConnectionId(hi, ConnectionId.hiAt(bytes, 4));
  }

  write(out: Uint8Array, pos: number): number {
    return writeU32(out, writeU32(out, pos, this.hi), this.lo);
  }

  equals(other: ConnectionId): boolean {
    return this.hi === other.hi && this.lo === other.lo;
  }

  toString(): string {
    return this.hi.toString(16).padStart(8, '0') + this.lo.toString(16).padStart(8, '0');
  }
}

/** What each side tells the other in the handshake. */
export interface TransportParameters {
  messageBytesMax: number;
  /** The receive window: the most credit this side grants beyond what its application took, and so the largest message it takes. */
  receiveWindowBytes: number;
  /**
   * The stream offset the peer may send up to before the first MAX_DATA, when below the window (a server
   * pacing a client; 0: the whole window). Last and optional on the wire: a peer that predates it stops
   * reading before it (and sends within the window, which stays the limit it is held to), and a packet
   * without it reads as 0. INIT's zero padding reads as 0 too.
   */
  initialCreditBytes: number;
  /** Largest datagram this side accepts. */
  datagramBytesMax: number;
  /** Longest this side holds an ACK. */
  ackDelayMaxMs: number;
  /** 0 = no idle timeout of its own. */
  idleTimeoutMs: number;
}

const idleTimeoutMsMax = 24 * 3600 * 1000;
const ackDelayMsMax = 1000;

export function writeParameters(out: Uint8Array, pos: number, p: TransportParameters): number {
  pos = writeVarint(out, pos, p.messageBytesMax);
  pos = writeVarint(out, pos, p.receiveWindowBytes);
  pos = writeVarint(out, pos, p.datagramBytesMax);
  pos = writeVarint(out, pos, p.ackDelayMaxMs);
  pos = writeVarint(out, pos, p.idleTimeoutMs);
  return writeVarint(out, pos, p.initialCreditBytes);
}

/** Reads and checks a peer's parameters; anything out of range is malformed input. */
export function readParameters(reader: Reader): TransportParameters {
  const p: TransportParameters = {
    messageBytesMax: reader.varint(),
    receiveWindowBytes: reader.varint(),
    datagramBytesMax: reader.varint(),
    ackDelayMaxMs: reader.varint(),
    idleTimeoutMs: reader.varint(),
    initialCreditBytes: reader.remaining > 0 ? reader.varint() : 0,
  };
  if (p.messageBytesMax > transportLimits.messageBytesMax) throw new DecodeError('messageBytesMax out of range');
  if (p.receiveWindowBytes < transportLimits.datagramBytesMin) throw new DecodeError('receive window too small');
  if (p.datagramBytesMax < transportLimits.datagramBytesMin || p.datagramBytesMax > transportLimits.datagramBytesMax) {
    throw new DecodeError('datagramBytesMax out of range');
  }
  if (p.ackDelayMaxMs > ackDelayMsMax) throw new DecodeError('ackDelayMaxMs out of range');
  if (p.idleTimeoutMs > idleTimeoutMsMax) throw new DecodeError('idleTimeoutMs out of range');
  if (p.initialCreditBytes !== 0 && (p.initialCreditBytes < transportLimits.datagramBytesMin || p.initialCreditBytes > p.receiveWindowBytes)) {
    throw new DecodeError('initialCreditBytes out of range');
  }
  return p;
}

function writeLongHeader(out: Uint8Array, type: number, clientCid: ConnectionId): number {
  out[0] = type;
  writeU32(out, 1, protocolVersion);
  return clientCid.write(out, 5);
}

/** INIT, padded with zeros to `paddedBytes` so a reply is never larger than what the client sent. */
export function writeInit(out: Uint8Array, clientCid: ConnectionId, cookie: Uint8Array | null, params: TransportParameters, paddedBytes: number): number {
  let pos = writeLongHeader(out, packetType.init, clientCid);
  const cookieLength = cookie === null ? 0 : cookie.length;
  out[pos++] = cookieLength;
  if (cookie !== null) out.set(cookie, pos);
  pos = writeParameters(out, pos + cookieLength, params);
  if (pos < paddedBytes) {
    out.fill(0, pos, paddedBytes);
    pos = paddedBytes;
  }
  return pos;
}

export function writeRetry(out: Uint8Array, clientCid: ConnectionId, cookie: Uint8Array): number {
  let pos = writeLongHeader(out, packetType.retry, clientCid);
  out[pos++] = cookie.length;
  out.set(cookie, pos);
  return pos + cookie.length;
}

export function writeAccept(out: Uint8Array, clientCid: ConnectionId, serverCid: ConnectionId, params: TransportParameters): number {
  const pos = serverCid.write(out, writeLongHeader(out, packetType.accept, clientCid));
  return writeParameters(out, pos, params);
}

export function writeRefuse(out: Uint8Array, clientCid: ConnectionId, reason: number): number {
  const pos = writeLongHeader(out, packetType.refuse, clientCid);
  out[pos] = reason;
  return pos + 1;
}

/** RESET for `cid` (the id a DATA packet named): a long header and nothing else, smaller than any DATA packet. */
export function writeReset(out: Uint8Array, cid: ConnectionId): number {
  return writeLongHeader(out, packetType.reset, cid);
}

/** Reads a cookie field (length byte, then bytes) as a view. */
export function readCookie(reader: Reader): Uint8Array {
  const length = reader.u8();
  if (length > cookieBytesMax) throw new DecodeError('cookie too long');
  return reader.view(length);
}

/** Writes a DATA header; returns the position of the first frame. */
export function writeDataHeader(out: Uint8Array, destination: ConnectionId, truncatedPn: number): number {
  out[0] = packetType.data;
  destination.write(out, 1);
  return writeU32(out, dataPacketNumberAt, truncatedPn);
}

/** The truncated packet number of a DATA packet whose header the endpoint has already matched. */
export function readDataPacketNumber(bytes: Uint8Array): number {
  const at = dataPacketNumberAt;
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}
