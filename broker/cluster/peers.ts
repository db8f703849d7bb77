import { isSkeinError, SkeinError } from '../../transport/errors.js';
import { brokerLimits } from '../../transport/limits.js';
import { RpcChannel, type RpcHandler } from '../../transport/rpc/index.js';
import type { Endpoint } from '../../transport/endpoint.js';
import type { BrokerInfo } from '../../transport/protocol/messages.js';
import type { WireEnvelope } from '../raft/codec.js';
import { peerAuthMethods, peerProof, readChallenge } from './peer-auth.js';

/**
 * This broker's links to the other brokers: one outgoing connection each,
 * dialled on demand and redialled with backoff after it dies. Raft traffic
 * of every group travels over it, coalesced: the messages queued for a peer
 * during one turn of the event loop leave as one `raft` message. Raft
 * tolerates loss, so when a link is down or its bounded queue is full,
 * messages are dropped (and counted), never buffered without bound.
 */
export const peerMethods = {
  raft: 'raft',
  /** Forwards a metadata operation to the controller. */
  controller: 'controller',
} as const;

export interface PeerCounters {
  raftSent: number;
  raftDropped: number;
  dials: number;
  dialFailures: number;
  /** Peers seen to come back as a new process (and our link to the old one dropped). */
  restartsSeen: number;
}

interface Link {
  rpc: RpcChannel | null;
  dialing: Promise<RpcChannel> | null;
  queue: WireEnvelope[];
  /** estimateBytes of each queued message, so a flush need not walk the entries again. */
  queueSizes: number[];
  queueBytes: number;
  retryAtMs: number;
  backoffMs: number;
  /** Last time anything arrived from this peer (any connection), for liveness. */
  heardAtMs: number;
  /** The peer process's incarnation, from its Raft messages; null until one arrives. */
  incarnation: number | null;
}

export interface PeerLinksOptions {
  selfId: number;
  endpoint: Endpoint;
  /** Where a broker is: from the metadata, falling back to the configured peers. */
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
}

const addressCheckEveryMs = 5_000;

export class PeerLinks {
  readonly counters: PeerCounters = { raftSent: 0, raftDropped: 0, dials: 0, dialFailures: 0, restartsSeen: 0 };
  private readonly links = new Map<number, Link>();
  private flushScheduled = false;
  private closed = false;
  private nextAddressCheckMs = 0;
  private addressMismatchSeen = 0;

  constructor(private readonly options: PeerLinksOptions) {}

  get selfId(): number {
    return this.options.selfId;
  }

  /** Queues one Raft message for `to`; it leaves with the others queued in this turn. */
  sendRaft(to: number, wire: WireEnvelope): void {
    if (this.closed || to === this.options.selfId) return;
    const link = this.link(to);
    const bytes = estimateBytes(wire);
    if (link.queue.length >= brokerLimits.peerRaftQueueMax || link.queueBytes + bytes > brokerLimits.peerRaftQueueBytesMax) {
      this.counters.raftDropped++;
      return;
    }
    link.queue.push(wire);
    link.queueSizes.push(bytes);
    link.queueBytes += bytes;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Whether our link to `id` is up now (a request to it dials nothing). */
  linked(id: number): boolean {
    const rpc = this.links.get(id)?.rpc;
    return rpc !== null && rpc !== undefined && rpc.isOpen;
  }

  /** A request to a peer over our link to it (dialling if needed). */
  async request<T>(to: number, method: string, body: unknown, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<T> {
    if (to === this.options.selfId) throw new SkeinError('INTERNAL', { message: 'a broker does not send requests to itself over the network' });
    const rpc = await this.connected(to);
    return rpc.request<T>(method, body, options);
  }

  /**
   * Something arrived from `id`: it is alive, as the process `incarnation`
   * (when the message said). A new incarnation means it restarted: our link
   * still points at the dead process's connection, which the new process
   * answers with RESET only once we send on it (and a RESET can be lost), so
   * our votes and appends to it could be lost until the dead-peer timeout
   * noticed — measured in the cluster simulation, seconds with no leader on
   * any partition. The link is dropped at once; the next message redials.
   */
  heardFrom(id: number, nowMs: number, incarnation?: number): void {
    const link = this.link(id);
    link.heardAtMs = nowMs;
    // Hearing from a broker proves it can reach us, not that we can reach it: keep a link to it (see alive).
    if ((link.rpc === null || !link.rpc.isOpen) && link.dialing === null && nowMs >= link.retryAtMs && !this.closed) this.connected(id).catch(() => {});
    if (incarnation === undefined) return;
    const known = link.incarnation;
    link.incarnation = incarnation;
    if (known === null || known === incarnation) return;
    this.counters.restartsSeen++;
    const rpc = link.rpc;
    link.rpc = null;
    link.retryAtMs = 0;
    link.backoffMs = brokerLimits.peerRedialBackoffMsMin;
    void rpc?.close().catch(() => {});
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
    for (const [id, link] of this.links) if (nowMs - link.heardAtMs <= windowMs && link.rpc !== null && link.rpc.isOpen) out.add(id);
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    const closing: Promise<void>[] = [];
    for (const link of this.links.values()) {
      link.queue = [];
      link.queueSizes = [];
      if (link.rpc !== null) closing.push(link.rpc.close().catch(() => {}));
    }
    await Promise.all(closing);
  }

  private link(id: number): Link {
    let link = this.links.get(id);
    if (link === undefined) {
      link = { rpc: null, dialing: null, queue: [], queueSizes: [], queueBytes: 0, retryAtMs: 0, backoffMs: brokerLimits.peerRedialBackoffMsMin, heardAtMs: -Infinity, incarnation: null };
      this.links.set(id, link);
    }
    return link;
  }

  private flush(): void {
    this.flushScheduled = false;
    const nowMs = performance.now();
    for (const [id, link] of this.links) {
      if (link.queue.length === 0) continue;
      if (link.rpc === null || !link.rpc.isOpen) {
        link.rpc = null;
        if (link.dialing === null && nowMs >= link.retryAtMs) this.connected(id).catch(() => {});
        // Raft resends what matters; stale queued messages would only add latency.
        this.counters.raftDropped += link.queue.length;
        link.queue = [];
        link.queueSizes = [];
        link.queueBytes = 0;
        continue;
      }
      const rpc = link.rpc;
      let chunk: WireEnvelope[] = [];
      let chunkBytes = 0;
      for (let i = 0; i < link.queue.length; i++) {
        const wire = link.queue[i]!;
        const bytes = link.queueSizes[i]!;
        if (chunk.length > 0 && chunkBytes + bytes > brokerLimits.peerRaftMessageBytesMax) {
          this.ship(rpc, chunk);
          chunk = [];
          chunkBytes = 0;
        }
        chunk.push(wire);
        chunkBytes += bytes;
      }
      this.ship(rpc, chunk);
      link.queue = [];
      link.queueSizes = [];
      link.queueBytes = 0;
    }
    this.options.endpoint.flushNow();
    if (nowMs >= this.nextAddressCheckMs) this.checkAddresses(nowMs);
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

  private ship(rpc: RpcChannel, messages: WireEnvelope[]): void {
    this.counters.raftSent += messages.length;
    const { selfId: from, incarnation, storageId } = this.options;
    rpc.notify(peerMethods.raft, { from, incarnation, ...(storageId === undefined ? {} : { storage: storageId }), messages }).catch(() => {
      this.counters.raftDropped += messages.length;
    });
  }

  private async authenticate(rpc: RpcChannel, to: number): Promise<void> {
    const { selfId, secret } = this.options;
    const timeoutMs = brokerLimits.peerAuthTimeoutMs;
    const challenge = readChallenge(await rpc.request(peerAuthMethods.challenge, {}, { timeoutMs }));
    await rpc.request(peerAuthMethods.hello, { id: selfId, proof: peerProof(secret!, selfId, to, challenge) }, { timeoutMs });
  }

  private connected(id: number): Promise<RpcChannel> {
    const link = this.link(id);
    if (link.rpc !== null && link.rpc.isOpen) return Promise.resolve(link.rpc);
    if (link.dialing !== null) return link.dialing;
    const address = this.options.addressOf(id);
    if (address === undefined) return Promise.reject(new SkeinError('CONNECTION_REFUSED', { message: `no address known for broker ${id}` }));
    this.counters.dials++;
    link.dialing = this.options.endpoint
      .connect({ host: address.host, port: address.port }, { timeoutMs: Math.max(link.backoffMs * 4, 1_000) })
      .then(async (connection) => {
        const rpc = new RpcChannel(connection, { handler: this.options.handler, onNotify: this.options.onNotify });
        if (this.options.secret !== null) {
          await this.authenticate(rpc, id).catch(async (error: unknown) => {
            await rpc.close();
            if (isSkeinError(error, 'NOT_AUTHORIZED')) this.options.onRefused?.(id, error);
            throw error;
          });
        }
        link.rpc = rpc;
        link.backoffMs = brokerLimits.peerRedialBackoffMsMin;
        if (connection.answeredFrom !== null) {
          this.options.onNotice?.(
            `broker ${id}, dialled at ${address.host}:${address.port}, answers from ${connection.answeredFrom}:${address.port} (its host replies from another of its addresses; accepted)`,
          );
        }
        connection.onClose(() => {
          if (link.rpc === rpc) link.rpc = null;
        });
        return rpc;
      })
      .catch((error: unknown) => {
        this.counters.dialFailures++;
        link.retryAtMs = performance.now() + link.backoffMs;
        link.backoffMs = Math.min(link.backoffMs * 2, brokerLimits.peerRedialBackoffMsMax);
        throw error;
      })
      .finally(() => {
        link.dialing = null;
      });
    return link.dialing;
  }
}

/** Bytes a Raft message will take on the wire, roughly: entries dominate. */
function estimateBytes(wire: WireEnvelope): number {
  let bytes = 64;
  const entries = wire.n;
  if (Array.isArray(entries)) for (const entry of entries) bytes += 16 + (((entry as unknown[])[2] as Uint8Array | undefined)?.byteLength ?? 0);
  const snapshot = wire.s as { d?: Uint8Array } | undefined;
  if (snapshot?.d instanceof Uint8Array) bytes += snapshot.d.byteLength;
  return bytes;
}
