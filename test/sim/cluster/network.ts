import { EventEmitter } from 'node:events';
import type { Prng } from '../../../transport/core/prng.js';
import type { SimClock, SimProcess } from './clock.js';

/** How the simulated network treats every datagram (each one drawn independently from the run's seed). */
export interface LinkConditions {
  loss: number;
  duplicate: number;
  /** One-way delay is drawn uniformly from [minDelayMs, maxDelayMs]: different delays reorder. */
  minDelayMs: number;
  maxDelayMs: number;
}

const host = '127.0.0.1';

/**
 * node:dgram for the simulation (the test mocks the module with
 * `simulatedDgram`): sockets of every simulated process on one virtual
 * 127.0.0.1, datagrams delivered on the simulated clock after a seeded delay,
 * or lost, duplicated, or cut by a partition between two processes.
 */
export class VirtualNetwork {
  conditions: LinkConditions = { loss: 0, duplicate: 0, minDelayMs: 0.05, maxDelayMs: 0.5 };
  readonly counters = { sent: 0, delivered: 0, lost: 0, duplicated: 0, cut: 0, unreachable: 0, overflowed: 0 };
  /**
   * What a paused process's socket holds before the kernel drops: Linux caps SO_RCVBUF at twice
   * net.core.rmem_max (212,992 by default, whatever the 8 MiB the endpoint asks for) and charges each
   * datagram its buffer's true size, about a kilobyte more than the payload for a small one.
   */
  receiveBufferBytes = 2 * 212_992;
  static readonly datagramOverheadBytes = 768;
  private readonly sockets = new Map<number, VirtualSocket>();
  private readonly cuts = new Set<string>();
  private nextEphemeralPort = 40_000;

  constructor(
    readonly clock: SimClock,
    private readonly prng: Prng,
  ) {}

  createSocket(): VirtualSocket {
    return new VirtualSocket(this, this.clock.processes.getStore());
  }

  /** Drops every datagram between processes `a` and `b` (by name, so it outlives restarts) until healed. */
  cut(a: string, b: string): void {
    this.cuts.add(pairKey(a, b));
  }

  heal(a: string, b: string): void {
    this.cuts.delete(pairKey(a, b));
  }

  healAll(): void {
    this.cuts.clear();
  }

  /** A killed process's ports are free for its successor, as the kernel frees them. */
  releaseProcess(process: SimProcess): void {
    for (const [port, socket] of this.sockets) if (socket.owner === process) this.sockets.delete(port);
  }

  bind(socket: VirtualSocket, port: number): number | null {
    if (port === 0) {
      while (this.sockets.has(this.nextEphemeralPort)) this.nextEphemeralPort++;
      port = this.nextEphemeralPort++;
    }
    if (this.sockets.has(port)) return null;
    this.sockets.set(port, socket);
    return port;
  }

  unbind(socket: VirtualSocket): void {
    if (this.sockets.get(socket.port) === socket) this.sockets.delete(socket.port);
  }

  transmit(from: VirtualSocket, toPort: number, bytes: Buffer): void {
    this.counters.sent++;
    const { loss, duplicate, minDelayMs, maxDelayMs } = this.conditions;
    if (this.prng.chance(loss)) {
      this.counters.lost++;
      return;
    }
    const copies = this.prng.chance(duplicate) ? 2 : 1;
    if (copies === 2) this.counters.duplicated++;
    for (let i = 0; i < copies; i++) {
      const delayMs = minDelayMs + this.prng.next() * (maxDelayMs - minDelayMs);
      this.clock.after(delayMs, () => this.deliver(from, toPort, bytes));
    }
  }

  private deliver(from: VirtualSocket, toPort: number, bytes: Buffer): void {
    const to = this.sockets.get(toPort);
    if (to === undefined || to.owner?.dead) {
      this.counters.unreachable++;
      return;
    }
    if (from.owner !== undefined && to.owner !== undefined && this.cuts.has(pairKey(from.owner.name, to.owner.name))) {
      this.counters.cut++;
      return;
    }
    if (to.owner?.paused === true) {
      to.hold(from.port, bytes, this.receiveBufferBytes);
      return;
    }
    this.emitTo(to, from.port, bytes);
  }

  /** SIGCONT: the socket's queue is read, in arrival order, after the timers that came due (Node's timers phase runs first). */
  resume(process: SimProcess): void {
    for (const socket of this.sockets.values()) {
      if (socket.owner !== process) continue;
      for (const { fromPort, bytes } of socket.drain()) this.clock.after(0, () => this.emitTo(socket, fromPort, bytes));
    }
  }

  private emitTo(to: VirtualSocket, fromPort: number, bytes: Buffer): void {
    if (to.owner?.dead || to.isClosed) {
      this.counters.unreachable++;
      return;
    }
    this.counters.delivered++;
    const rinfo = { address: host, family: 'IPv4', port: fromPort, size: bytes.length };
    const emit = (): void => {
      try {
        to.emit('message', bytes, rinfo);
      } catch (error) {
        this.clock.uncaught.push({ process: to.owner?.name ?? 'world', error });
      }
    };
    if (to.owner === undefined) emit();
    else this.clock.runAs(to.owner, emit);
  }
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

/** The part of dgram.Socket the transport's shell uses. */
export class VirtualSocket extends EventEmitter {
  port = 0;
  private closed = false;
  /** Datagrams that arrived while the owner was paused (bounded like a kernel receive buffer). */
  private held: Array<{ fromPort: number; bytes: Buffer }> = [];
  private heldBytes = 0;

  constructor(
    private readonly network: VirtualNetwork,
    readonly owner: SimProcess | undefined,
  ) {
    super();
  }

  bind(port: number, _host: string, callback?: () => void): this {
    const bound = this.network.bind(this, port);
    process.nextTick(() => {
      if (bound === null) {
        this.emit('error', Object.assign(new Error(`bind EADDRINUSE ${host}:${port}`), { code: 'EADDRINUSE' }));
        return;
      }
      this.port = bound;
      this.emit('listening');
      callback?.();
    });
    return this;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Queues a datagram for a paused owner; a full buffer drops it, as the kernel does. */
  hold(fromPort: number, bytes: Buffer, capacityBytes: number): void {
    const cost = bytes.length + VirtualNetwork.datagramOverheadBytes;
    if (this.heldBytes + cost > capacityBytes) {
      this.network.counters.overflowed++;
      return;
    }
    this.held.push({ fromPort, bytes });
    this.heldBytes += cost;
  }

  drain(): Array<{ fromPort: number; bytes: Buffer }> {
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    return held;
  }

  address(): { address: string; family: string; port: number } {
    return { address: host, family: 'IPv4', port: this.port };
  }

  send(message: Uint8Array, port: number, _host: string, callback?: (error: Error | null, bytes: number) => void): void {
    if (!this.closed) this.network.transmit(this, port, Buffer.from(message));
    if (callback !== undefined) queueMicrotask(() => callback(null, message.length));
  }

  close(callback?: () => void): this {
    this.closed = true;
    this.network.unbind(this);
    process.nextTick(() => {
      this.emit('close');
      callback?.();
    });
    return this;
  }

  getSendQueueCount(): number {
    return 0;
  }
  getRecvBufferSize(): number {
    return 8 * 1024 * 1024;
  }
  getSendBufferSize(): number {
    return 8 * 1024 * 1024;
  }
}

let current: VirtualNetwork | null = null;

export function useNetwork(network: VirtualNetwork | null): void {
  current = network;
}

/** What the test's vi.mock('node:dgram') returns. */
export const simulatedDgram = {
  createSocket(): VirtualSocket {
    if (current === null) throw new Error('node:dgram is simulated in this test: create a SimCluster first');
    return current.createSocket();
  },
};
