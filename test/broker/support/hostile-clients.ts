import { createHmac, randomFillSync } from 'node:crypto';
import dgram from 'node:dgram';
import { EndpointCore } from '../../../transport/core/endpoint-core.js';
import type { ConnectionCore } from '../../../transport/core/connection-core.js';
import { packetType, protocolVersion } from '../../../transport/core/packet.js';
import { Endpoint } from '../../../transport/endpoint.js';
import { SkeinError } from '../../../transport/errors.js';
import { transportLimits } from '../../../transport/limits.js';
import { methods } from '../../../transport/protocol/messages.js';
import { encodeFrame } from '../../../transport/rpc/frames.js';
import { Skein } from '../../../sdk/index.js';
import { carriesStreamBeyond } from '../../transport/support/packets.js';

/**
 * Attackers for the hostile-client tests and `npm run bench:hostile`: each
 * speaks the real protocol (a real handshake, real frames) and then does the
 * one thing a broker must survive. Sizes are parameters, so a test runs a
 * small version of the attack the bench runs at full size.
 */
export interface Target {
  host: string;
  port: number;
}

/**
 * A transport endpoint driven by hand (the sans-IO core on a real socket),
 * so an attacker can do what the real shell never would: stop reading its
 * messages (no credit goes back), or never send the end of a message.
 */
export class ManualPeer {
  /** False: received messages stay queued in the core, so no credit is returned to the sender. */
  reading = true;
  /** Datagrams carrying stream bytes at or beyond this offset are never sent (a message that never finishes). */
  streamCutOffset = Infinity;
  onMessage: (connection: ConnectionCore, message: Uint8Array) => void = () => {};
  private readonly out = new Uint8Array(transportLimits.datagramBytesMax);
  private readonly connects = new Map<ConnectionCore, { resolve: () => void; reject: (error: unknown) => void }>();
  private timer: NodeJS.Timeout | null = null;
  private scheduled = false;
  private closed = false;

  private constructor(
    readonly core: EndpointCore,
    private readonly socket: dgram.Socket,
  ) {
    socket.on('message', (bytes, remote) => {
      core.handleDatagram(performance.now(), bytes, remote.address, remote.port);
      this.wake();
    });
  }

  /** A socket on `host` (any 127.0.0.x is this machine: several addresses, each with its own per-address limit). */
  static async open(host = '127.0.0.1'): Promise<ManualPeer> {
    const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
    await new Promise<void>((resolve) => socket.bind(0, host, resolve));
    const core = new EndpointCore({ datagramBytes: 1200 }, {
      mac: (key, data) => createHmac('sha256', key).update(data).digest(),
      randomFill: (bytes) => {
        randomFillSync(bytes);
      },
    });
    return new ManualPeer(core, socket);
  }

  async connect(target: Target): Promise<ConnectionCore> {
    const connection = this.core.connect(performance.now(), target.host, target.port, 10_000);
    const opened = new Promise<void>((resolve, reject) => this.connects.set(connection, { resolve, reject }));
    this.wake();
    await opened;
    return connection;
  }

  /** Queues a message; false when the connection's send buffer is full. */
  send(connection: ConnectionCore, message: Uint8Array): boolean {
    const queued = connection.send(message) === 'queued';
    this.wake();
    return queued;
  }

  request(connection: ConnectionCore, id: number, method: string, body: unknown): boolean {
    return this.send(connection, encodeFrame({ kind: 'request', id, method, body, timeoutMs: 600_000 }));
  }

  /**
   * Ends the attack: CLOSE on every connection first, so the broker frees what it holds for them now
   * rather than after its idle timeout, and one attack does not spill into the next test's.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    const nowMs = performance.now();
    this.core.closeAll(nowMs, new SkeinError('CONNECTION_CLOSED', { message: 'the attacker left' }));
    const sent: Promise<void>[] = [];
    for (let transmit = this.core.pollTransmit(nowMs, this.out); transmit !== null && sent.length < 4096; transmit = this.core.pollTransmit(nowMs, this.out)) {
      const { port, host } = transmit.peer;
      const bytes = this.out.slice(0, transmit.length);
      sent.push(new Promise((resolve) => this.socket.send(bytes, port, host, () => resolve())));
    }
    await Promise.all(sent);
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  private wake(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.turn();
    });
  }

  private turn(): void {
    if (this.closed) return;
    const core = this.core;
    const nowMs = performance.now();
    if (core.pollTimeout() <= nowMs) core.handleTimeout(nowMs);
    for (let event = core.pollEvent(); event !== null; event = core.pollEvent()) {
      const pending = this.connects.get(event.connection);
      if (event.type === 'connected') pending?.resolve();
      if (event.type === 'closed') pending?.reject(event.error ?? new SkeinError('CONNECTION_CLOSED'));
      if (event.type === 'connected' || event.type === 'closed') this.connects.delete(event.connection);
      if (event.type === 'readable' && this.reading) {
        for (let m = event.connection.pollMessage(); m !== null; m = event.connection.pollMessage()) this.onMessage(event.connection, m);
      }
    }
    for (let sent = 0; sent < 512; sent++) {
      const transmit = core.pollTransmit(nowMs, this.out);
      if (transmit === null) break;
      const bytes = this.out.slice(0, transmit.length);
      if (!carriesStreamBeyond(bytes, this.streamCutOffset)) this.socket.send(bytes, transmit.peer.port, transmit.peer.host);
    }
    const deadline = core.pollTimeout();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = deadline === Infinity ? null : setTimeout(() => this.turn(), Math.max(1, Math.ceil(deadline - performance.now())));
  }
}

/** One RPC frame of `items` one-byte items: empty byte strings or empty maps (item 1 of issue 11). */
export function manyItemsFrame(items: number, kind: 'bytes' | 'maps'): Uint8Array {
  const frame = new Uint8Array(5 + items);
  frame[0] = 0x9a;
  new DataView(frame.buffer).setUint32(1, items);
  frame.fill(kind === 'bytes' ? 0x40 : 0xa0, 5);
  return frame;
}

/** The largest item count of a many-items frame that fits a message of `messageBytes`. */
export function manyItemsMax(messageBytes: number = transportLimits.messageBytesDefault): number {
  return messageBytes - 5;
}

/** Sends `frames` huge frames over one real connection, one after the other. */
export async function sendHugeFrames(target: Target, options: { frames: number; items: number; kind: 'bytes' | 'maps' }): Promise<void> {
  const endpoint = await Endpoint.open({ host: '127.0.0.1', loss: null });
  try {
    const connection = await endpoint.connect(target);
    const frame = manyItemsFrame(options.items, options.kind);
    for (let i = 0; i < options.frames; i++) await connection.send(frame);
    // Until the broker has it all: a closed endpoint would stop sending.
    while (connection.isOpen && connection.bufferedBytes > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    await connection.close();
  } finally {
    await endpoint.close();
  }
}

/** Opens connections from one socket as fast as they are accepted; the endpoint keeps them alive with PINGs. */
export async function connectionFlood(target: Target, options: { connections: number; parallel?: number }): Promise<{ endpoint: Endpoint; opened: number; refused: number }> {
  const endpoint = await Endpoint.open({ host: '127.0.0.1', loss: null });
  let opened = 0;
  let refused = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < options.connections) {
      next++;
      try {
        await endpoint.connect(target, { timeoutMs: 3_000 });
        opened++;
      } catch {
        refused++;
      }
    }
  };
  await Promise.all(Array.from({ length: options.parallel ?? 64 }, worker));
  return { endpoint, opened, refused };
}

/**
 * Set-ups that stop half-way: each INIT is answered with a RETRY, the INIT
 * with the cookie is answered with an ACCEPT (and a connection), and the
 * client never confirms it. From one socket, `perSecond` of them.
 */
export async function halfOpenFlood(target: Target, options: { perSecond: number; seconds: number }): Promise<{ accepts: number; refuses: number }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  let accepts = 0;
  let refuses = 0;
  socket.on('message', (bytes) => {
    if (bytes[0] === packetType.retry) {
      const cid = bytes.subarray(5, 13);
      const cookie = bytes.subarray(14, 14 + bytes[13]!);
      socket.send(initPacket(cid, cookie), target.port, target.host);
    } else if (bytes[0] === packetType.accept) accepts++;
    else if (bytes[0] === packetType.refuse) refuses++;
  });
  const untilMs = performance.now() + options.seconds * 1000;
  const perTick = Math.max(1, Math.round(options.perSecond / 100));
  while (performance.now() < untilMs) {
    for (let i = 0; i < perTick; i++) {
      const cid = new Uint8Array(8);
      randomFillSync(cid);
      socket.send(initPacket(cid, null), target.port, target.host);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  socket.close();
  return { accepts, refuses };
}

function initPacket(cid: Uint8Array, cookie: Uint8Array | null): Uint8Array {
  const out = new Uint8Array(transportLimits.datagramBytesMin);
  out[0] = packetType.init;
  new DataView(out.buffer).setUint32(1, protocolVersion);
  out.set(cid, 5);
  let pos = 13;
  out[pos++] = cookie?.length ?? 0;
  if (cookie !== null) {
    out.set(cookie, pos);
    pos += cookie.length;
  }
  // Parameters: 16 MiB messages, 32 MiB window, 1200 B datagrams, 5 ms ack delay, 30 s idle.
  out.set([0x81, 0, 0, 0, 0x82, 0, 0, 0, 0x44, 0xb0, 0x05, 0x80, 0x00, 0x75, 0x30], pos);
  return out;
}

/** `connections` connections, each sending all but the end of a `messageBytes` message (and never the rest). */
export async function partialMessages(target: Target, options: { connections: number; messageBytes: number; sentBytes: number; host?: string }): Promise<ManualPeer> {
  const peer = await ManualPeer.open(options.host);
  peer.streamCutOffset = options.sentBytes;
  const message = new Uint8Array(options.messageBytes);
  await Promise.all(
    Array.from({ length: options.connections }, async () => {
      const connection = await peer.connect(target);
      peer.send(connection, message);
    }),
  );
  return peer;
}

/** Fetch requests on `connections` connections of one socket (one by default) whose responses are never read. */
export async function unreadFetches(target: Target, options: { topic: string; count: number; maxBytes: number; connections?: number; host?: string }): Promise<ManualPeer> {
  const peer = await ManualPeer.open(options.host);
  peer.reading = false;
  await Promise.all(
    Array.from({ length: options.connections ?? 1 }, async () => {
      const connection = await peer.connect(target);
      for (let id = 1; id <= options.count; id++) {
        peer.request(connection, id, methods.fetch, { topic: options.topic, partition: 0, offset: 0, maxBytes: options.maxBytes, maxWaitMs: 0 });
      }
    }),
  );
  return peer;
}

/** Push subscriptions on one connection, with all the credit a broker allows, whose pushes are never read. */
export async function unreadPushes(target: Target, options: { topic: string; count: number; creditBytes: number }): Promise<ManualPeer> {
  const peer = await ManualPeer.open();
  peer.reading = false;
  const connection = await peer.connect(target);
  for (let id = 1; id <= options.count; id++) {
    peer.request(connection, id, methods.subscribe, { subscriptionId: id, topic: options.topic, partition: 0, offset: 0, creditBytes: options.creditBytes, creditRecords: 1_000_000 });
  }
  return peer;
}

export interface ProduceFigures {
  sent: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * A normal client producing one small record every `everyMs` with acks 'all':
 * what an attack must not stop being served. Latencies are kept from `mark()` on.
 */
export class NormalProducer {
  private readonly client: Skein;
  private readonly latencies: number[] = [];
  private failed = 0;
  private sent = 0;
  private running = true;
  private loop: Promise<void> | null = null;

  constructor(brokers: string[], private readonly topic: string, private readonly everyMs = 20) {
    this.client = new Skein({ brokers, clientId: 'normal-client' });
  }

  start(): void {
    const producer = this.client.producer({ acks: 'all', lingerMs: 0 });
    this.loop = (async () => {
      while (this.running) {
        const startMs = performance.now();
        const sending = producer
          .send({ topic: this.topic, messages: [{ value: Buffer.from('normal') }] }, { signal: AbortSignal.timeout(30_000) })
          .then(
            () => this.latencies.push(performance.now() - startMs),
            () => this.failed++,
          );
        void sending;
        this.sent++;
        await new Promise((resolve) => setTimeout(resolve, this.everyMs));
      }
      await producer.close().catch(() => {});
    })();
  }

  /** Forgets what was measured so far (the warm-up). */
  mark(): void {
    this.latencies.length = 0;
    this.failed = 0;
    this.sent = 0;
  }

  figures(): ProduceFigures {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const at = (q: number): number => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
    return { sent: this.sent, failed: this.failed, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted[sorted.length - 1] ?? NaN };
  }

  async stop(): Promise<ProduceFigures> {
    this.running = false;
    await this.loop;
    const figures = this.figures();
    await this.client.close();
    return figures;
  }
}
