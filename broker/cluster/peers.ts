import { systemClock } from '../../transport/clock.js';
import { isSkeinError, SkeinError } from '../../transport/errors.js';
import { brokerLimits } from '../../transport/limits.js';
import { RpcChannel, type RpcHandler } from '../../transport/rpc/index.js';
import type { Connection } from '../../transport/connection.js';
import type { Endpoint } from '../../transport/endpoint.js';
import type { BrokerInfo } from '../../transport/protocol/messages.js';
import type { WireEnvelope } from '../raft/codec.js';
import { peerAuthMethods, peerProof, readChallenge } from './peer-auth.js';
import { PeerLaneChooser, type PeerLane, peerLanes, raftWireBytes } from './peer-lanes.js';

/**
 * This broker's links to the other brokers: two outgoing connections each
 * (lanes: control traffic and bulk replication, see peer-lanes.ts), dialled
 * on demand and redialled with backoff after they die. Raft traffic of every
 * group travels over them, coalesced: the messages queued for a lane during
 * one turn of the event loop leave as one `raft` message. Raft tolerates
 * loss, so when a lane is down or its bounded queue is full, messages are
 * dropped (and counted), never buffered without bound.
 */
export const peerMethods = {
  raft: 'raft',
  /** Forwards a metadata operation to the controller. */
  controller: 'controller',
} as const;

export interface PeerCounters {
  raftSent: number;
  /** Of raftSent, those that took the bulk lane. */
  raftSentBulk: number;
  /** Copies of an append or snapshot the bulk lane was still delivering, not sent again (see PeerLaneChooser). */
  raftDuplicates: number;
  raftDropped: number;
  dials: number;
  dialFailures: number;
  /** Peers seen to come back as a new process (and our link to the old one dropped). */
  restartsSeen: number;
}

/** One connection to a peer, with what waits to go out on it. */
interface Lane {
  rpc: RpcChannel | null;
  /** The rpc's connection, whose unacknowledged bytes tell whether the lane delivered all it was given. */
  connection: Connection | null;
  dialing: Promise<RpcChannel> | null;
  queue: WireEnvelope[];
  /** raftWireBytes of each queued message, so a flush need not walk the entries again. */
  queueSizes: number[];
  queueBytes: number;
  retryAtMs: number;
  backoffMs: number;
  /** Cancels the dial under way (see heardFrom). */
  dialAbort: AbortController | null;
}

interface Link {
  lanes: Record<PeerLane, Lane>;
  chooser: PeerLaneChooser;
  /** Last time anything arrived from this peer (any connection), for liveness. */
  heardAtMs: number;
  /** The peer process's incarnation, from its Raft messages; null until one arrives. */
  incarnation: number | null;
  /** Where the peer's own link to us comes from (its Raft messages arrive over it): dialled when nothing else knows its address. */
  linkedFrom: BrokerInfo | null;
}

export interface PeerLinksOptions {
  selfId: number;
  endpoint: Endpoint;
  /**
   * Where a broker is: from the metadata, falling back to the configured peers; when neither knows it,
   * the address its own link to us comes from (see heardFrom).
   */
  addressOf: (id: number) => BrokerInfo | undefined;
  /** Handles requests a peer sends back over our outgoing connection. */
  handler: RpcHandler;
  onNotify: (method: string, body: unknown) => void;
  /** The cluster's peer secret: each link proves itself with it before it carries anything (see peer-auth.ts). */
  secret: string | null;
  /** A peer refused our proof (its secret differs): the link is never up until that is fixed. */
  onRefused?: (id: number, error: unknown) => void;
  /** Something about the peers' addresses an operator should know (a broker answering from another address, packets dropped for a wrong one). */
  onNotice?: (message: string) => void;
  /**
   * This process's random identity, sent with every Raft message: a peer that
   * sees it change knows we restarted (see heardFrom).
   */
  incarnation: number;
  /**
   * This broker's data directory (storage-identity.ts), sent with every Raft message: a peer refuses Raft
   * traffic from a directory other than the one the metadata ties our id to (see raftFromOtherStorage).
   */
  storageId?: string;
  /** A founding broker's founding configuration (founding.ts), sent with every Raft message: a peer refuses Raft traffic from a founder whose founding differs. */
  founding?: string;
}

const addressCheckEveryMs = 5_000;

export class PeerLinks {
  readonly counters: PeerCounters = { raftSent: 0, raftSentBulk: 0, raftDuplicates: 0, raftDropped: 0, dials: 0, dialFailures: 0, restartsSeen: 0 };
  private readonly links = new Map<number, Link>();
  private flushScheduled = false;
  private closed = false;
  private nextAddressCheckMs = 0;
  private addressMismatchSeen = 0;

  constructor(private readonly options: PeerLinksOptions) {}

  get selfId(): number {
    return this.options.selfId;
  }

  /** Queues one Raft message for `to` on its lane; it leaves with the others queued there in this turn. */
  sendRaft(to: number, wire: WireEnvelope): void {
    if (this.closed || to === this.options.selfId) return;
    const link = this.link(to);
    const bytes = raftWireBytes(wire);
    const bulk = link.lanes.bulk;
    const route = link.chooser.choose(wire, bytes, isOpen(bulk) && bulk.connection !== null ? bulk.connection.streamAckedBytes : Infinity);
    if (route === 'duplicate') {
      this.counters.raftDuplicates++;
      return;
    }
    const lane = link.lanes[route];
    if (lane.queue.length >= brokerLimits.peerRaftQueueMax || lane.queueBytes + bytes > brokerLimits.peerRaftQueueBytesMax) {
      this.counters.raftDropped++;
      return;
    }
    lane.queue.push(wire);
    lane.queueSizes.push(bytes);
    lane.queueBytes += bytes;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Whether our link to `id` is up now (a request to it dials nothing). */
  linked(id: number): boolean {
    const control = this.links.get(id)?.lanes.control;
    return control !== undefined && isOpen(control);
  }

  /** A request to a peer over our link to it (dialling if needed). */
  async request<T>(to: number, method: string, body: unknown, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<T> {
    if (to === this.options.selfId) throw new SkeinError('INTERNAL', { message: 'a broker does not send requests to itself over the network' });
    const rpc = await this.connected(to, 'control');
    return rpc.request<T>(method, body, options);
  }

  /**
   * Something arrived from `id`: it is alive, as the process `incarnation`
   * (when the message said). A new incarnation means it restarted: our link
   * still points at the dead process's connection, which the new process
   * answers with RESET only once we send on it (and a RESET can be lost), so
   * our votes and appends to it could be lost until the dead-peer timeout
   * noticed — measured in the cluster simulation, seconds with no leader on
   * any partition. The lanes are dropped at once; the next message redials.
   *
   * `from` is where its link to us comes from (a broker dials from the
   * socket it listens on). It is dialled only when neither the metadata nor
   * the configured peers know the broker: a founding broker restarted with
   * a copy of the metadata from before a broker joined (a replica saves its
   * commit index only when its term changes) could otherwise never answer
   * that broker leading the metadata group, and so never catch up to learn
   * its address.
   *
   * A peer heard from after a silence of peerSilenceEndsDialMs (a partition
   * healed, a pause ended) has every lane that is down dialled again at once
   * (see redialNow).
   */
  heardFrom(id: number, nowMs: number, incarnation?: number, from?: { host: string; port: number }): void {
    const link = this.link(id);
    const silentMs = nowMs - link.heardAtMs;
    link.heardAtMs = nowMs;
    if (from !== undefined && (link.linkedFrom?.host !== from.host || link.linkedFrom.port !== from.port)) link.linkedFrom = { id, host: from.host, port: from.port };
    if (silentMs >= brokerLimits.peerSilenceEndsDialMs) for (const lane of Object.values(link.lanes)) if (!isOpen(lane)) redialNow(lane);
    // Hearing from a broker proves it can reach us, not that we can reach it: keep a link to it (see alive).
    for (const name of peerLanes) this.keepDialled(id, name, nowMs);
    if (incarnation === undefined) return;
    const known = link.incarnation;
    link.incarnation = incarnation;
    if (known === null || known === incarnation) return;
    this.counters.restartsSeen++;
    link.chooser.reset();
    for (const lane of Object.values(link.lanes)) {
      const rpc = lane.rpc;
      lane.rpc = null;
      lane.connection = null;
      lane.retryAtMs = 0;
      lane.backoffMs = brokerLimits.peerRedialBackoffMsMin;
      void rpc?.close().catch(() => {});
    }
  }

  /** Dials a lane that is down, unless a dial is under way or its backoff has not run out. */
  private keepDialled(id: number, name: PeerLane, nowMs: number): void {
    const lane = this.link(id).lanes[name];
    if (!isOpen(lane) && lane.dialing === null && nowMs >= lane.retryAtMs && !this.closed) this.connected(id, name).catch(() => {});
  }

  /**
   * Brokers heard from within `windowMs` that our own link reaches (this
   * broker is always alive to itself). A broker whose replies nobody can
   * take (it answers from an address its peers did not dial, say) still
   * sends over the links it dialled, and was counted alive while nobody
   * could reach it.
   */
  alive(nowMs: number, windowMs: number): Set<number> {
    const out = new Set([this.options.selfId]);
    for (const [id, link] of this.links) if (nowMs - link.heardAtMs <= windowMs && isOpen(link.lanes.control)) out.add(id);
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    const closing: Promise<void>[] = [];
    for (const link of this.links.values()) {
      for (const lane of Object.values(link.lanes)) {
        clearQueue(lane);
        if (lane.rpc !== null) closing.push(lane.rpc.close().catch(() => {}));
      }
    }
    await Promise.all(closing);
  }

  private link(id: number): Link {
    let link = this.links.get(id);
    if (link === undefined) {
      link = { lanes: { control: newLane(), bulk: newLane() }, chooser: new PeerLaneChooser(), heardAtMs: -Infinity, incarnation: null, linkedFrom: null };
      this.links.set(id, link);
    }
    return link;
  }

  private flush(): void {
    this.flushScheduled = false;
    const nowMs = systemClock.nowMs();
    for (const [id, link] of this.links) {
      for (const name of peerLanes) this.flushLane(id, name, nowMs);
    }
    this.options.endpoint.flushNow();
    if (nowMs >= this.nextAddressCheckMs) this.checkAddresses(nowMs);
  }

  private flushLane(id: number, name: PeerLane, nowMs: number): void {
    const link = this.link(id);
    const lane = link.lanes[name];
    if (lane.queue.length === 0) return;
    if (!isOpen(lane)) {
      lane.rpc = null;
      for (const other of peerLanes) this.keepDialled(id, other, nowMs);
      // Raft resends what matters; stale queued messages would only add latency.
      this.counters.raftDropped += lane.queue.length;
      clearQueue(lane);
      return;
    }
    let chunk: WireEnvelope[] = [];
    let chunkBytes = 0;
    for (let i = 0; i < lane.queue.length; i++) {
      const wire = lane.queue[i]!;
      const bytes = lane.queueSizes[i]!;
      if (chunk.length > 0 && chunkBytes + bytes > brokerLimits.peerRaftMessageBytesMax) {
        this.ship(link, name, chunk);
        chunk = [];
        chunkBytes = 0;
      }
      chunk.push(wire);
      chunkBytes += bytes;
    }
    this.ship(link, name, chunk);
    clearQueue(lane);
  }

  /** Packets dropped for coming from an address their connection does not know: said once per growth, at most every few seconds. */
  private checkAddresses(nowMs: number): void {
    this.nextAddressCheckMs = nowMs + addressCheckEveryMs;
    const dropped = this.options.endpoint.stats().drops.addressMismatch;
    if (dropped > this.addressMismatchSeen) {
      this.options.onNotice?.(`${dropped - this.addressMismatchSeen} packets dropped for arriving from an address other than their connection's (a peer behind NAT, or a host answering from another address and port)`);
    }
    this.addressMismatchSeen = dropped;
  }

  private ship(link: Link, name: PeerLane, messages: WireEnvelope[]): void {
    const { rpc, connection } = link.lanes[name];
    this.counters.raftSent += messages.length;
    const { selfId: from, incarnation, storageId, founding } = this.options;
    const identity = { ...(storageId === undefined ? {} : { storage: storageId }), ...(founding === undefined ? {} : { founding }) };
    rpc!.notify(peerMethods.raft, { from, incarnation, ...identity, messages }).catch(() => {
      this.counters.raftDropped += messages.length;
    });
    if (name !== 'bulk' || connection === null) return;
    this.counters.raftSentBulk += messages.length;
    // notify hands the frame to the connection before it first waits: the stream's end is this message's end.
    const endBytes = connection.streamAcceptedBytes;
    for (const wire of messages) link.chooser.shipped(wire.g as string, endBytes);
  }

  private async authenticate(rpc: RpcChannel, to: number, signal: AbortSignal): Promise<void> {
    const { selfId, secret } = this.options;
    const timeoutMs = brokerLimits.peerAuthTimeoutMs;
    const challenge = readChallenge(await rpc.request(peerAuthMethods.challenge, {}, { timeoutMs, signal }));
    await rpc.request(peerAuthMethods.hello, { id: selfId, proof: peerProof(secret!, selfId, to, challenge) }, { timeoutMs, signal });
  }

  private connected(id: number, name: PeerLane): Promise<RpcChannel> {
    const link = this.link(id);
    const lane = link.lanes[name];
    if (isOpen(lane)) return Promise.resolve(lane.rpc!);
    if (lane.dialing !== null) return lane.dialing;
    const address = this.options.addressOf(id) ?? link.linkedFrom ?? undefined;
    if (address === undefined) return Promise.reject(new SkeinError('CONNECTION_REFUSED', { message: `no address known for broker ${id}` }));
    this.counters.dials++;
    const abort = new AbortController();
    lane.dialAbort = abort;
    lane.dialing = this.options.endpoint
      .connect({ host: address.host, port: address.port }, { timeoutMs: Math.max(lane.backoffMs * 4, 1_000), signal: abort.signal })
      .then(async (connection) => {
        const rpc = new RpcChannel(connection, { handler: this.options.handler, onNotify: this.options.onNotify });
        if (this.options.secret !== null) {
          await this.authenticate(rpc, id, abort.signal).catch(async (error: unknown) => {
            await rpc.close();
            if (isSkeinError(error, 'NOT_AUTHORIZED')) this.options.onRefused?.(id, error);
            throw error;
          });
        }
        lane.rpc = rpc;
        lane.connection = connection;
        if (name === 'bulk') link.chooser.reset();
        lane.backoffMs = brokerLimits.peerRedialBackoffMsMin;
        if (connection.answeredFrom !== null && name === 'control') {
          this.options.onNotice?.(
            `broker ${id}, dialled at ${address.host}:${address.port}, answers from ${connection.answeredFrom}:${address.port} (its host replies from another of its addresses; accepted)`,
          );
        }
        connection.onClose(() => {
          if (lane.rpc !== rpc) return;
          lane.rpc = null;
          lane.connection = null;
          // What the bulk lane held is lost: no later append can overtake it.
          if (name === 'bulk') link.chooser.reset();
        });
        return rpc;
      })
      .catch((error: unknown) => {
        this.counters.dialFailures++;
        // A dial cancelled by redialNow is no failure of the peer's: the next message dials again at once.
        if (!abort.signal.aborted) {
          lane.retryAtMs = systemClock.nowMs() + lane.backoffMs;
          lane.backoffMs = Math.min(lane.backoffMs * 2, brokerLimits.peerRedialBackoffMsMax);
        }
        throw error;
      })
      .finally(() => {
        lane.dialing = null;
        if (lane.dialAbort === abort) lane.dialAbort = null;
      });
    return lane.dialing;
  }
}

function newLane(): Lane {
  return { rpc: null, connection: null, dialing: null, queue: [], queueSizes: [], queueBytes: 0, retryAtMs: 0, backoffMs: brokerLimits.peerRedialBackoffMsMin, dialAbort: null };
}

/**
 * A lane to a peer heard from again after a silence: the backoff grown while
 * it was unreachable no longer holds, and a dial sent into the silence has had
 * its INITs lost and its retransmissions spaced out (a handshake timeout of
 * seconds), holding the lane down long after the peer is back (seen in the
 * cluster simulation: when another broker died meanwhile, a partition had no
 * quorum for that long). Evidence of life, not a timer: start over now.
 */
function redialNow(lane: Lane): void {
  lane.backoffMs = brokerLimits.peerRedialBackoffMsMin;
  lane.retryAtMs = 0;
  lane.dialAbort?.abort();
}

function isOpen(lane: Lane): boolean {
  return lane.rpc !== null && lane.rpc.isOpen;
}

function clearQueue(lane: Lane): void {
  lane.queue = [];
  lane.queueSizes = [];
  lane.queueBytes = 0;
}
