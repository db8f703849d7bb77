import type { CoreEnvironment } from './environment.js';
import { protocolVersion, type ConnectionId } from './packet.js';
import { DecodeError, Reader, varintLength, writeU32, writeVarint } from './varint.js';

export const cookieMacBytes = 16;
const keyBytes = 32;

export type CookieVerdict = 'valid' | 'expired' | 'forged';

/**
 * Stateless set-up cookies (in the spirit of DTLS HelloVerifyRequest and
 * QUIC Retry): a MAC over the peer's address, the client's connection id and
 * a timestamp. A client that echoes a valid cookie has proved it receives
 * packets at that address, so the server allocates nothing before that.
 * Keys rotate every `lifetimeMs`; the previous key is kept so a cookie stays
 * valid for its whole lifetime across a rotation.
 *
 * Cookie bytes: epoch (varint), timestampMs (varint), MAC (16 bytes).
 */
export class CookieMinter {
  private currentEpoch = -1;
  private currentKey: Uint8Array | null = null;
  private previousKey: Uint8Array | null = null;
  private readonly reader = new Reader();
  private readonly textEncoder = new TextEncoder();

  constructor(
    private readonly env: CoreEnvironment,
    private readonly lifetimeMs: number,
  ) {}

  private rotate(nowMs: number): void {
    const epoch = Math.floor(nowMs / this.lifetimeMs);
    if (epoch <= this.currentEpoch) return;
    this.previousKey = epoch === this.currentEpoch + 1 ? this.currentKey : null;
    const key = new Uint8Array(keyBytes);
    this.env.randomFill(key);
    this.currentKey = key;
    this.currentEpoch = epoch;
  }

  private keyFor(epoch: number): Uint8Array | null {
    if (epoch === this.currentEpoch) return this.currentKey;
    if (epoch === this.currentEpoch - 1) return this.previousKey;
    return null;
  }

  private macOf(key: Uint8Array, epoch: number, timestampMs: number, host: string, port: number, clientCid: ConnectionId): Uint8Array {
    const hostBytes = this.textEncoder.encode(host);
    const data = new Uint8Array(4 + 2 + 8 + 8 + 8 + hostBytes.length);
    let pos = writeU32(data, 0, protocolVersion);
    data[pos++] = port >>> 8;
    data[pos++] = port & 0xff;
    pos = clientCid.write(data, pos);
    pos = writeVarint(data, pos, epoch);
    pos = writeVarint(data, pos, timestampMs);
    data.set(hostBytes, pos);
    const mac = this.env.mac(key, data.subarray(0, pos + hostBytes.length));
    if (mac.length < cookieMacBytes) throw new Error(`the injected MAC returned ${mac.length} bytes; cookies need ${cookieMacBytes}`);
    return mac.subarray(0, cookieMacBytes);
  }

  mint(nowMs: number, host: string, port: number, clientCid: ConnectionId): Uint8Array {
    this.rotate(nowMs);
    const timestampMs = Math.floor(nowMs);
    const epoch = this.currentEpoch;
    const mac = this.macOf(this.currentKey!, epoch, timestampMs, host, port, clientCid);
    const cookie = new Uint8Array(varintLength(epoch) + varintLength(timestampMs) + cookieMacBytes);
    const pos = writeVarint(cookie, writeVarint(cookie, 0, epoch), timestampMs);
    cookie.set(mac, pos);
    return cookie;
  }

  verify(nowMs: number, cookie: Uint8Array, host: string, port: number, clientCid: ConnectionId): CookieVerdict {
    this.rotate(nowMs);
    const reader = this.reader;
    reader.reset(cookie, 0, cookie.length);
    let epoch: number;
    let timestampMs: number;
    try {
      epoch = reader.varint();
      timestampMs = reader.varint();
    } catch (error) {
      if (error instanceof DecodeError) return 'forged';
      throw error;
    }
    if (reader.remaining !== cookieMacBytes) return 'forged';
    if (epoch < this.currentEpoch - 1) return 'expired';
    const key = this.keyFor(epoch);
    if (key === null) return 'forged';
    const expected = this.macOf(key, epoch, timestampMs, host, port, clientCid);
    // Constant-time comparison: the time taken says nothing about how many bytes matched.
    let difference = 0;
    for (let i = 0; i < cookieMacBytes; i++) difference |= expected[i]! ^ cookie[reader.pos + i]!;
    if (difference !== 0) return 'forged';
    if (Math.floor(timestampMs / this.lifetimeMs) !== epoch || timestampMs > nowMs) return 'forged';
    return nowMs - timestampMs > this.lifetimeMs ? 'expired' : 'valid';
  }
}
