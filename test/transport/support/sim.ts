import { createHmac } from 'node:crypto';
import type { SkeinError } from '../../../transport/errors.js';
import type { EndpointCoreOptions } from '../../../transport/core/config.js';
import { type ConnectionCore, type PeerAddress, peerAddress } from '../../../transport/core/connection.js';
import { EndpointCore } from '../../../transport/core/endpoint.js';
import type { CoreEnvironment } from '../../../transport/core/environment.js';
import { Prng } from '../../../transport/core/prng.js';
import type { LossModel } from '../../../transport/loss/types.js';

/**
 * A deterministic network of endpoint cores on virtual time: datagrams travel
 * through each node's LossModel (send side at the sender, receive side at the
 * receiver) plus a base latency, and the clock jumps straight to the next
 * delivery, timer or scheduled action. One seed replays a whole run.
 */

/** Core environment for simulations: real HMAC (so forgeries fail), randomness from the seed. */
export function simEnvironment(prng: Prng): CoreEnvironment {
  return {
    mac: (key, data) => createHmac('sha256', key).update(data).digest(),
    randomFill: (out) => {
      for (let i = 0; i < out.length; i++) out[i] = prng.nextUint32() & 0xff;
    },
  };
}

export interface SimNodeConfig {
  host: string;
  port: number;
  options?: EndpointCoreOptions;
  loss?: LossModel | null;
}

export interface SimHandlers {
  onAccepted?(connection: ConnectionCore): void;
  onConnected?(connection: ConnectionCore): void;
  onMessage?(connection: ConnectionCore, message: Uint8Array): void;
  onWritable?(connection: ConnectionCore): void;
  onClosed?(connection: ConnectionCore, error: SkeinError | undefined): void;
}

export class SimNode {
  readonly core: EndpointCore;
  readonly address: PeerAddress;
  loss: LossModel | null;
  handlers: SimHandlers = {};
  /** When false, received messages stay queued in the core (an application that stopped reading). */
  reading = true;
  datagramsSent = 0;
  bytesSent = 0;

  /** Replaced by a new process on its address (see SimNetwork.restart): it receives nothing more. */
  gone = false;

  constructor(
    readonly config: SimNodeConfig,
    prng: Prng,
    readonly network: SimNetwork,
  ) {
    this.address = peerAddress(config.host, config.port);
    this.core = new EndpointCore(config.options ?? {}, simEnvironment(prng));
    this.loss = config.loss ?? null;
  }

  connect(to: SimNode): ConnectionCore {
    return this.core.connect(this.network.nowMs, to.address.host, to.address.port);
  }

  /** Delivers queued messages of every connection (used after `reading` turns back on). */
  drain(connection: ConnectionCore): void {
    for (let m = connection.pollMessage(); m !== null; m = connection.pollMessage()) this.handlers.onMessage?.(connection, m);
  }

  pumpEvents(): void {
    for (let event = this.core.pollEvent(); event !== null; event = this.core.pollEvent()) {
      const h = this.handlers;
      switch (event.type) {
        case 'accepted':
          h.onAccepted?.(event.connection);
          break;
        case 'connected':
          h.onConnected?.(event.connection);
          break;
        case 'readable':
          if (this.reading) this.drain(event.connection);
          break;
        case 'writable':
          h.onWritable?.(event.connection);
          break;
        case 'closed':
          if (this.reading) this.drain(event.connection);
          h.onClosed?.(event.connection, event.error);
          break;
      }
    }
  }
}

interface InFlight {
  atMs: number;
  seq: number;
  to: SimNode;
  bytes: Uint8Array;
  from: PeerAddress;
  /** The receiver's loss model has already decided on it. */
  received: boolean;
}

interface Action {
  atMs: number;
  seq: number;
  run: () => void;
}

/** A tiny binary heap ordered by (atMs, seq), so equal times keep their insertion order. */
class TimeQueue<T extends { atMs: number; seq: number }> {
  private readonly items: T[] = [];
  get size(): number {
    return this.items.length;
  }
  peek(): T | undefined {
    return this.items[0];
  }
  private less(a: T, b: T): boolean {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
  }
  push(item: T): void {
    const items = this.items;
    let i = items.length;
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(item, items[parent]!)) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = item;
  }
  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const child = right < items.length && this.less(items[right]!, items[left]!) ? right : left;
      if (!this.less(items[child]!, last)) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
    return top;
  }
}

export interface SimNetworkOptions {
  seed: number;
  /** One-way latency of every path. */
  latencyMs?: number;
  /** Called for every datagram a node sends, before loss (for amplification checks). */
  onTransmit?: (from: SimNode, to: PeerAddress, bytes: Uint8Array) => void;
  /** A datagram this returns true for is never put on the wire (an attacker that withholds part of its data). */
  dropIf?: (from: SimNode, to: PeerAddress, bytes: Uint8Array) => boolean;
}

export class SimNetwork {
  nowMs = 0;
  readonly prng: Prng;
  readonly nodes: SimNode[] = [];
  private readonly byAddress = new Map<string, SimNode>();
  private readonly wire = new TimeQueue<InFlight>();
  private readonly actions = new TimeQueue<Action>();
  private seq = 0;
  private readonly scratch = new Uint8Array(65_536);
  readonly latencyMs: number;
  datagramsDelivered = 0;

  constructor(readonly options: SimNetworkOptions) {
    this.prng = new Prng(options.seed);
    this.latencyMs = options.latencyMs ?? 1;
  }

  add(config: SimNodeConfig): SimNode {
    const node = new SimNode(config, this.prng.fork(), this);
    this.nodes.push(node);
    this.byAddress.set(node.address.key, node);
    return node;
  }

  /**
   * A new process on `node`'s address, as after a crash and restart: a fresh
   * endpoint that knows none of the old one's connections. The old node
   * sends and receives nothing more.
   */
  restart(node: SimNode): SimNode {
    const fresh = new SimNode(node.config, this.prng.fork(), this);
    fresh.loss = node.loss;
    node.gone = true;
    this.nodes[this.nodes.indexOf(node)] = fresh;
    this.byAddress.set(fresh.address.key, fresh);
    return fresh;
  }

  /** Runs `run` at virtual time `atMs`. */
  at(atMs: number, run: () => void): void {
    this.actions.push({ atMs, seq: this.seq++, run });
  }

  /** Puts raw bytes on the wire to `to` as if sent from `from` (hostile-input tests). */
  inject(to: SimNode, bytes: Uint8Array, from: PeerAddress, atMs = this.nowMs): void {
    this.wire.push({ atMs, seq: this.seq++, to, bytes, from, received: true });
  }

  private flush(node: SimNode): void {
    const scratch = this.scratch;
    for (let t = node.core.pollTransmit(this.nowMs, scratch); t !== null; t = node.core.pollTransmit(this.nowMs, scratch)) {
      const bytes = scratch.slice(0, t.length);
      node.datagramsSent++;
      node.bytesSent += t.length;
      this.options.onTransmit?.(node, t.peer, bytes);
      const to = this.byAddress.get(t.peer.key);
      if (to === undefined || this.options.dropIf?.(node, t.peer, bytes) === true) continue;
      const delays = node.loss === null ? zero : node.loss.decide(this.nowMs, t.peer.key, t.length, 'send');
      for (const delayMs of delays) {
        this.wire.push({ atMs: this.nowMs + this.latencyMs + delayMs, seq: this.seq++, to, bytes, from: node.address, received: false });
      }
    }
  }

  private settle(): void {
    // Sending can trigger events and events can trigger sending: loop until both are quiet.
    for (let round = 0; round < 1000; round++) {
      let busy = false;
      for (const node of this.nodes) {
        const before = node.datagramsSent;
        node.pumpEvents();
        this.flush(node);
        node.pumpEvents();
        if (node.datagramsSent !== before) busy = true;
      }
      if (!busy) return;
    }
  }

  private deliver(item: InFlight): void {
    const to = item.to;
    if (to.gone) return;
    if (!item.received && to.loss !== null) {
      const delays = to.loss.decide(this.nowMs, item.from.key, item.bytes.length, 'receive');
      for (const delayMs of delays) {
        if (delayMs === 0) this.handOver(to, item.bytes, item.from);
        else this.wire.push({ ...item, atMs: this.nowMs + delayMs, seq: this.seq++, received: true });
      }
      return;
    }
    this.handOver(to, item.bytes, item.from);
  }

  private handOver(to: SimNode, bytes: Uint8Array, from: PeerAddress): void {
    this.datagramsDelivered++;
    to.core.handleDatagram(this.nowMs, bytes, from.host, from.port);
    to.pumpEvents();
  }

  /**
   * Advances virtual time until `done()` holds (returns true) or the clock
   * passes `limitMs` or nothing is left to happen (returns done()).
   */
  runUntil(done: () => boolean, limitMs: number): boolean {
    let stalledSteps = 0;
    let lastMs = this.nowMs;
    for (;;) {
      // A protocol bug that keeps a deadline in the past would spin forever: fail loudly instead.
      if (this.nowMs === lastMs) {
        if (++stalledSteps > 100_000) {
          const states = this.nodes.flatMap((node) =>
            [...node.core.connectionsList()].map((c) => `${node.address.key} ${c.state} deadline ${c.deadlineMs()}`),
          );
          throw new Error(`simulation livelock at ${this.nowMs} ms: time stopped advancing (${states.join('; ')})`);
        }
      } else {
        lastMs = this.nowMs;
        stalledSteps = 0;
      }
      this.settle();
      if (done()) return true;
      let next = Infinity;
      const wireNext = this.wire.peek();
      if (wireNext !== undefined) next = wireNext.atMs;
      const actionNext = this.actions.peek();
      if (actionNext !== undefined && actionNext.atMs < next) next = actionNext.atMs;
      for (const node of this.nodes) {
        const deadline = node.core.pollTimeout();
        if (deadline < next) next = deadline;
      }
      if (next === Infinity) return done();
      if (next > limitMs) {
        this.nowMs = Math.max(this.nowMs, limitMs);
        return done();
      }
      if (next > this.nowMs) this.nowMs = next;
      for (let action = this.actions.peek(); action !== undefined && action.atMs <= this.nowMs; action = this.actions.peek()) {
        this.actions.pop();
        action.run();
      }
      for (let item = this.wire.peek(); item !== undefined && item.atMs <= this.nowMs; item = this.wire.peek()) {
        this.wire.pop();
        this.deliver(item);
      }
      for (const node of this.nodes) {
        if (node.core.pollTimeout() <= this.nowMs) node.core.handleTimeout(this.nowMs);
      }
    }
  }

  /** Runs for `durationMs` of virtual time. */
  runFor(durationMs: number): void {
    const end = this.nowMs + durationMs;
    this.runUntil(() => false, end);
    this.nowMs = Math.max(this.nowMs, end);
  }
}

const zero: readonly number[] = [0];
