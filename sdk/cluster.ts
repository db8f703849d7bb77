import { SkeinError, isSkeinError, type ErrorCode } from '../transport/errors.js';
import { methods, type MetadataResponse } from '../transport/protocol/messages.js';
import { BrokerConnection, ConnectionPool, type Dialer } from './connection.js';
import { MetadataCache, leaderHintOf } from './metadata.js';
import { formatAddress, type BrokerAddress, type ResolvedSkeinOptions } from './options.js';
import { describeError, retrying, type Verdict } from './retry.js';

/** Which replica serves a partition request. */
export type ReadFrom = 'leader' | 'follower';

export interface PartitionTarget {
  connection: BrokerConnection;
  brokerId: number;
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
  /** Date.now() instant; defaults to now + deliveryTimeoutMs. */
  deadlineMs?: number;
  /** One attempt's wait for an answer; defaults to requestTimeoutMs. */
  timeoutMs?: number;
}

/** Failures after which the partition's leader may have moved: the cached metadata is suspect. */
const staleLeaderCodes = new Set<ErrorCode>(['NOT_LEADER', 'LEADER_NOT_AVAILABLE', 'STORAGE_FULL', 'CONNECTION_CLOSED', 'CONNECTION_REFUSED', 'PEER_DEAD', 'TIMEOUT']);

/**
 * The client's knowledge of the cluster and its routes to it: the connection
 * pool, the metadata cache, and requests to a partition's leader (or a
 * follower) or to any broker, with redirection and retries. Internal: the
 * public classes are built on it.
 */
export class Cluster {
  readonly pool: ConnectionPool;
  readonly metadata: MetadataCache;
  /** Rotates through bootstrap and known brokers when one does not answer. */
  private rotation = 0;
  private readonly followerChoice = new Map<string, number>();

  constructor(
    readonly options: ResolvedSkeinOptions,
    dial: Dialer,
  ) {
    this.pool = new ConnectionPool({
      dial,
      clientId: options.clientId,
      requestTimeoutMs: options.requestTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
    });
    this.metadata = new MetadataCache({ fetch: (topics) => this.fetchMetadata(topics), maxAgeMs: options.metadataMaxAgeMs });
  }

  deadline(options: CallOptions): number {
    return options.deadlineMs ?? Date.now() + this.options.deliveryTimeoutMs;
  }

  /**
   * Classifies a failed request about `topic`/`partition` sent to `brokerId`
   * and updates what we know: a trusted NOT_LEADER hint is a redirect;
   * transient trouble marks the metadata stale and backs off; anything not
   * retriable is the answer.
   */
  classify(error: unknown, where: { topic?: string; partition?: number; brokerId?: number | null } = {}): Verdict {
    if (!isSkeinError(error)) return 'fatal';
    const { topic, partition } = where;
    if (error.code === 'NOT_LEADER' && topic !== undefined && partition !== undefined) {
      const hint = leaderHintOf(error.details);
      if (hint !== null && this.metadata.applyHint(topic, partition, hint, where.brokerId ?? null)) return 'redirect';
    }
    if (topic !== undefined && (staleLeaderCodes.has(error.code) || error.code === 'UNKNOWN_PARTITION')) this.metadata.invalidate(topic);
    return error.retriable ? 'retry' : 'fatal';
  }

  /** The connection to the broker that should serve `topic`/`partition` now (one attempt, no retries). */
  async partitionTarget(topic: string, partition: number, readFrom: ReadFrom, signal?: AbortSignal): Promise<PartitionTarget> {
    const meta = await this.metadata.topic(topic, signal);
    const info = meta.partitions[partition];
    if (info === undefined) {
      throw new SkeinError('UNKNOWN_PARTITION', {
        message: `topic ${topic} has ${meta.partitions.length} partitions; there is no partition ${partition}`,
        details: { topic, partition },
      });
    }
    let brokerId = info.leader;
    if (readFrom === 'follower') {
      const followers = info.replicas.filter((r) => r !== info.leader);
      if (followers.length > 0) brokerId = followers[(this.followerChoice.get(`${topic}/${partition}`) ?? 0) % followers.length]!;
    }
    if (brokerId === null) {
      this.metadata.invalidate(topic);
      throw new SkeinError('LEADER_NOT_AVAILABLE', { message: `partition ${topic}/${partition} has no leader right now`, details: { topic, partition } });
    }
    const address = this.metadata.brokerAddress(brokerId);
    if (address === undefined) {
      this.metadata.invalidate(topic);
      throw new SkeinError('LEADER_NOT_AVAILABLE', { message: `broker ${brokerId} (serving ${topic}/${partition}) is not in the cluster metadata yet`, details: { topic, partition } });
    }
    const connection = await this.pool.get(address, signal);
    return { connection, brokerId };
  }

  /** A follower read failed: try another replica next time. */
  nextFollower(topic: string, partition: number): void {
    const key = `${topic}/${partition}`;
    this.followerChoice.set(key, (this.followerChoice.get(key) ?? 0) + 1);
  }

  /**
   * Sends a request about one partition to its leader (or a follower),
   * following NOT_LEADER hints, refreshing metadata and backing off through
   * leader changes until it succeeds, fails for good, or the deadline passes.
   */
  callPartition<T>(request: { topic: string; partition: number; method: string; body: unknown; readFrom?: ReadFrom }, options: CallOptions = {}): Promise<T> {
    const { topic, partition, method } = request;
    const readFrom = request.readFrom ?? 'leader';
    let brokerId: number | null = null;
    return retrying(
      {
        what: `${method} on ${topic}/${partition}`,
        signal: options.signal,
        deadlineMs: this.deadline(options),
        onFailure: (error) => {
          if (readFrom === 'follower') this.nextFollower(topic, partition);
          return this.classify(error, { topic, partition, brokerId });
        },
      },
      async (signal) => {
        brokerId = null;
        const target = await this.partitionTarget(topic, partition, readFrom, signal);
        brokerId = target.brokerId;
        return target.connection.request<T>(method, request.body, { signal, timeoutMs: this.attemptTimeout(options) });
      },
    );
  }

  /** Sends a request any broker can answer (admin, cluster description), retrying on other brokers. */
  callAny<T>(method: string, body: unknown, options: CallOptions = {}): Promise<T> {
    return retrying(
      {
        what: method,
        signal: options.signal,
        deadlineMs: this.deadline(options),
        onFailure: (error) => {
          this.rotation++;
          return this.classify(error);
        },
      },
      async (signal) => {
        const connection = await this.anyConnection(signal);
        return connection.request<T>(method, body, { signal, timeoutMs: this.attemptTimeout(options) });
      },
    );
  }

  private attemptTimeout(options: CallOptions): number {
    return options.timeoutMs ?? this.options.requestTimeoutMs;
  }

  /** An open connection if there is one, else a dial to the next broker in rotation. */
  private async anyConnection(signal?: AbortSignal): Promise<BrokerConnection> {
    const open = this.pool.openConnections();
    if (open.length > 0) return open[this.rotation % open.length]!;
    const candidates = this.candidates();
    return this.pool.get(candidates[this.rotation % candidates.length]!, signal);
  }

  /** Every address we could ask: brokers from metadata first (they are current), then the bootstrap list. */
  private candidates(): BrokerAddress[] {
    const seen = new Set<string>();
    const out: BrokerAddress[] = [];
    for (const address of [...this.metadata.knownBrokers(), ...this.options.brokers]) {
      const key = formatAddress(address);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ host: address.host, port: address.port });
    }
    return out;
  }

  /**
   * One metadata refresh: asks open connections first, then every candidate
   * in rotation, until one answers. Throws the last failure when none does
   * (callers retry with backoff).
   */
  private async fetchMetadata(topics: string[] | undefined): Promise<MetadataResponse> {
    const body = topics === undefined ? {} : { topics };
    const open = this.pool.openConnections();
    const candidates = this.candidates();
    const tries = open.length + candidates.length;
    // The walk starts where the last one left off and asks each connection once: a dead broker, still
    // "open" until the dead-peer timeout, was asked twice per refresh and first again in the next one
    // (the cluster simulation showed a SIGKILLed leader's partitions waiting 4 s for metadata that way).
    const start = this.rotation;
    const asked = new Set<BrokerConnection>();
    let lastError: unknown;
    for (let i = 0; i < tries; i++) {
      try {
        const connection =
          i < open.length ? open[(start + i) % open.length]! : await this.pool.get(candidates[(start + i - open.length) % candidates.length]!);
        if (!connection.isOpen || asked.has(connection)) continue;
        asked.add(connection);
        const response = checkMetadata(await connection.request<MetadataResponse>(methods.metadata, body, { timeoutMs: this.options.requestTimeoutMs }));
        return await this.confirmMissing(response, connection.brokerId);
      } catch (error) {
        lastError = error;
        if (isSkeinError(error) && !error.retriable) throw error;
        this.rotation = start + i + 1;
      }
    }
    throw isSkeinError(lastError)
      ? lastError
      : new SkeinError('CONNECTION_REFUSED', { message: `no broker answered a metadata request: ${describeError(lastError)}`, cause: lastError });
  }

  /**
   * A broker that has not yet applied a topic's creation reports it missing;
   * the controller decides. So "missing" is asked again of the controller
   * before the cache believes it (one more request, only in that case).
   */
  private async confirmMissing(response: MetadataResponse, from: number | null): Promise<MetadataResponse> {
    const controller = response.controllerId;
    if (response.missing.length === 0 || controller === null || controller === from) return response;
    const address = response.brokers.find((b) => b.id === controller);
    if (address === undefined) return response;
    try {
      const connection = await this.pool.get({ host: address.host, port: address.port });
      const second = checkMetadata(await connection.request<MetadataResponse>(methods.metadata, { topics: response.missing }, { timeoutMs: this.options.requestTimeoutMs }));
      return { ...response, topics: [...response.topics, ...second.topics], missing: second.missing };
    } catch {
      // The controller could not be asked: the first answer stands.
      return response;
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** A metadata answer is the peer's data: check its shape before the cache trusts it. */
function checkMetadata(response: unknown): MetadataResponse {
  const bad = (what: string): SkeinError => new SkeinError('PROTOCOL_VIOLATION', { message: `malformed metadata response: ${what}` });
  if (typeof response !== 'object' || response === null) throw bad('not a map');
  const r = response as Partial<MetadataResponse>;
  if (!Array.isArray(r.brokers) || !Array.isArray(r.topics)) throw bad('brokers and topics must be lists');
  for (const b of r.brokers) {
    if (typeof b?.id !== 'number' || typeof b.host !== 'string' || typeof b.port !== 'number') throw bad('a broker needs id, host and port');
  }
  for (const t of r.topics) {
    if (typeof t?.name !== 'string' || typeof t.topicId !== 'number' || !Array.isArray(t.partitions)) throw bad('a topic needs name, topicId and partitions');
    for (const p of t.partitions) {
      if (typeof p?.partition !== 'number' || (p.leader !== null && typeof p.leader !== 'number') || typeof p.leaderEpoch !== 'number' || !Array.isArray(p.replicas)) {
        throw bad(`partition metadata of ${t.name} is malformed`);
      }
    }
  }
  return { clusterId: String(r.clusterId ?? ''), controllerId: typeof r.controllerId === 'number' ? r.controllerId : null, brokers: r.brokers, topics: r.topics, missing: Array.isArray(r.missing) ? r.missing : [] };
}
