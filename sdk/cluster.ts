import { systemClock } from '../transport/clock.js';
import { sleep } from '../transport/abort.js';
import { SkeinError, errorSemantics, isSkeinError } from '../transport/errors.js';
import { sdkLimits } from '../transport/limits.js';
import { type LeaderHint, methods, type MetadataResponse } from '../transport/protocol/messages.js';
import { FirstContact } from './bootstrap.js';
import { hedged, notAsked } from './hedge.js';
import { BrokerConnection, ConnectionPool, type Dialer } from './broker-connection.js';
import { type MetadataAnswer, MetadataCache, leaderHintOf } from './metadata.js';
import { formatAddress, type BrokerAddress } from './address.js';
import type { ResolvedSkeinOptions } from './options.js';
import { describeError, retrying, type Verdict } from './retry.js';
import { readMetadataResponse } from '../transport/protocol/responses.js';

/** A partition and the leader a request to it was sent to. */
interface Serving {
  topic: string;
  partition: number;
  brokerId: number;
  leaderEpoch: number;
}

/** Which replica serves a partition request. */
export type ReadFrom = 'leader' | 'follower';

export interface PartitionTarget {
  connection: BrokerConnection;
  brokerId: number;
  /** The leader epoch the metadata named `brokerId` with when the target was chosen. */
  leaderEpoch: number;
}

/** See Cluster.leaderChecks. */
export interface LeaderChecks {
  moved(): Promise<SkeinError | null>;
  probe(signal: AbortSignal): Promise<SkeinError | null>;
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
  /** Instant on the monotonic clock (systemClock.nowMs); defaults to now + deliveryTimeoutMs. */
  deadlineMs?: number;
  /** One attempt's wait for an answer; defaults to requestTimeoutMs. */
  timeoutMs?: number;
  /**
   * For a request the leader answers at once (not a long poll): while its
   * answer is overdue, ask the cluster whether another broker leads now and
   * go there (see Cluster.raceMoves). Only for requests that may be repeated
   * safely (the outcome of the one abandoned is unknown).
   */
  watchLeader?: boolean;
}

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
  private readonly firstContact: FirstContact;

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
    this.firstContact = new FirstContact({
      addresses: options.brokers,
      connect: (address, timeoutMs) => this.pool.get(address, undefined, timeoutMs),
      timeoutMs: options.bootstrapTimeoutMs,
    });
  }

  /** The connection to `address`, once the cluster has been reached at all (see FirstContact). */
  private connection(address: BrokerAddress, signal?: AbortSignal): Promise<BrokerConnection> {
    // Once reached, no extra turn: a request's path is what it was before first contacts existed.
    if (this.firstContact.reached) return this.pool.get(address, signal);
    return this.firstContact.ensure(signal).then(() => this.pool.get(address, signal));
  }

  deadline(options: CallOptions): number {
    return options.deadlineMs ?? systemClock.nowMs() + this.options.deliveryTimeoutMs;
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
    if (topic !== undefined && errorSemantics(error.code).staleMetadata === true) this.metadata.invalidate(topic);
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
    const connection = await this.dial(address, { topic, partition, brokerId, leaderEpoch: info.leaderEpoch }, signal);
    return { connection, brokerId, leaderEpoch: info.leaderEpoch };
  }

  /**
   * Dials the broker serving a partition. A dial to a broker that is gone
   * waits out connectTimeoutMs, so while it has not answered within
   * leaderCheckAfterMs the cluster is asked (every leaderCheckEveryMs)
   * whether another broker leads now: then the caller goes there at once
   * (NOT_LEADER with that hint), and the dial goes on in the pool.
   */
  private dial(address: BrokerAddress, serving: Serving, signal?: AbortSignal): Promise<BrokerConnection> {
    // The dial goes on in the pool when the race is lost: it is not given the race's signal.
    return this.raceMoves(() => this.connection(address, signal), serving, signal);
  }

  /**
   * Races `work` against the cluster naming another leader of `serving`'s
   * partition: once `work` has gone unanswered for leaderCheckAfterMs, the
   * cluster is asked every leaderCheckEveryMs, and a newer leader elsewhere
   * ends the race with NOT_LEADER naming it (the caller's retry goes there at
   * once). `work`'s signal is aborted when it loses; `outcome` 'unknown' says
   * something was sent whose fate is not known.
   */
  private async raceMoves<T>(work: (signal: AbortSignal) => Promise<T>, serving: Serving, signal: AbortSignal | undefined, outcome?: 'unknown'): Promise<T> {
    // Once the race is decided, the checks stop (their timers must not outlive it), and so does the losing work.
    const settled = new AbortController();
    const checks = signal === undefined ? settled.signal : AbortSignal.any([signal, settled.signal]);
    const moved = async (): Promise<never> => {
      await sleep(sdkLimits.leaderCheckAfterMs, checks);
      for (;;) {
        const hint = await this.successor(serving.topic, serving.partition, serving);
        if (hint !== null && !checks.aborted) throw movedError(serving.topic, serving.partition, serving.brokerId, hint, outcome);
        await sleep(sdkLimits.leaderCheckEveryMs, checks);
      }
    };
    try {
      return await Promise.race([work(checks), moved()]);
    } finally {
      settled.abort();
    }
  }

  /**
   * What a producer asks while its requests to `target` go unanswered (see
   * PartitionPipeline.watchFlight): `moved` asks the cluster (hedged, so
   * another broker answers if the target does not) and returns NOT_LEADER
   * naming the successor when another broker leads at a newer epoch; `probe`
   * asks the target itself, on the same connection, a question it answers
   * without Raft, and when no answer comes within leaderProbeTimeoutMs but a
   * new connection to it works, returns CONNECTION_CLOSED (a restarted
   * process whose RESET of the old connection was lost; a paused or cut-off
   * one answers neither, and the old connection is kept). Each returns null when
   * it found nothing; their errors say the outcome of what was sent is unknown.
   */
  leaderChecks(topic: string, partition: number, target: PartitionTarget): LeaderChecks {
    return {
      moved: async () => {
        const hint = await this.successor(topic, partition, target);
        return hint === null ? null : movedError(topic, partition, target.brokerId, hint, 'unknown');
      },
      probe: (signal) => this.probe(topic, partition, target, signal),
    };
  }

  /** Asks the cluster who leads now: the hint when another broker than `was` does, at a newer epoch; else null. */
  private async successor(topic: string, partition: number, was: { brokerId: number; leaderEpoch: number }): Promise<LeaderHint | null> {
    await this.metadata.refresh([topic]).catch(() => undefined);
    const now = this.metadata.partition(topic, partition);
    if (now === undefined || now.leader === was.brokerId || now.leaderEpoch <= was.leaderEpoch) return null;
    return { leaderId: now.leader, leaderEpoch: now.leaderEpoch };
  }

  private async probe(topic: string, partition: number, target: PartitionTarget, signal: AbortSignal): Promise<SkeinError | null> {
    try {
      const response = await target.connection.request(methods.metadata, { topics: [topic] }, { signal, timeoutMs: sdkLimits.leaderProbeTimeoutMs });
      this.metadata.apply(readMetadataResponse(response), [topic], target.brokerId);
      return null;
    } catch (error) {
      if (signal.aborted) return null;
      const message = `broker ${target.brokerId} (leading ${topic}/${partition}) did not answer on our connection within ${sdkLimits.leaderProbeTimeoutMs} ms, but did on a new one: ${describeError(error)}`;
      const reason = new SkeinError('CONNECTION_CLOSED', { message, details: { outcome: 'unknown' }, cause: error });
      return (await this.pool.replace(target.connection, reason, sdkLimits.leaderProbeTimeoutMs)) ? reason : null;
    }
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
        if (options.watchLeader !== true || readFrom !== 'leader') return target.connection.request<T>(method, request.body, { signal, timeoutMs: this.attemptTimeout(options) });
        // A leader SIGKILLed with the request in flight answers nothing until the dead-peer timeout; its successor can.
        const serving = { topic, partition, brokerId: target.brokerId, leaderEpoch: target.leaderEpoch };
        return this.raceMoves((raceSignal) => target.connection.request<T>(method, request.body, { signal: raceSignal, timeoutMs: this.attemptTimeout(options) }), serving, signal, 'unknown');
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
      async (signal, attemptNumber) => {
        const connection = await this.anyConnection(signal, attemptNumber);
        return connection.request<T>(method, body, { signal, timeoutMs: this.attemptTimeout(options) });
      },
    );
  }

  private attemptTimeout(options: CallOptions): number {
    return options.timeoutMs ?? this.options.requestTimeoutMs;
  }

  /**
   * A first attempt takes a connection we have (no dial), else a dial to the next broker in rotation.
   * A retry goes round every broker we know, dialling where need be: a broker that answers but
   * cannot serve (cut off from the controller, say) was otherwise asked again and again while the
   * others, which could, had no open connection.
   */
  private async anyConnection(signal: AbortSignal, attemptNumber: number): Promise<BrokerConnection> {
    const open = this.pool.openConnections();
    if (attemptNumber <= 1 && open.length > 0) return open[this.rotation % open.length]!;
    const candidates = this.candidates();
    const dialled = this.connection(candidates[this.rotation % candidates.length]!, signal);
    if (open.length === 0) return dialled;
    return this.dialOrOpen(dialled, open[this.rotation % open.length]!, signal);
  }

  /**
   * A dial that has not connected within metadataHedgeMs gives way to a connection we have: a broker
   * that is down would otherwise hold the retry for the whole connectTimeoutMs (an operator's command
   * retried while the controller moved waited so on a dead bootstrap address). The dial goes on in the
   * pool, for a later retry.
   */
  private async dialOrOpen(dialled: Promise<BrokerConnection>, open: BrokerConnection, signal: AbortSignal): Promise<BrokerConnection> {
    const raced = new AbortController();
    const waited = sleep(sdkLimits.metadataHedgeMs, AbortSignal.any([signal, raced.signal])).then(() => open);
    try {
      return await Promise.race([dialled, waited]);
    } finally {
      raced.abort();
      dialled.catch(() => {});
      waited.catch(() => {});
    }
  }

  /**
   * Every address we could ask: brokers from metadata first (they are current), then the bootstrap list;
   * decommissioned brokers left out while any other is left.
   */
  private candidates(): BrokerAddress[] {
    const seen = new Set<string>();
    const out: BrokerAddress[] = [];
    for (const address of [...this.metadata.knownBrokers(), ...this.options.brokers]) {
      const key = formatAddress(address);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ host: address.host, port: address.port });
    }
    const members = out.filter((address) => !this.pool.isRemoved(address));
    return members.length > 0 ? members : out;
  }

  /**
   * One metadata refresh, hedged: asks one broker (every broker we know of
   * in turn, starting one further along each time, over its open connection
   * if it has one, so no broker is asked twice in a row and a broker that
   * answers with what it alone believes cannot hold the client), and the
   * next one too whenever an answer is overdue by metadataHedgeMs or an ask
   * fails. The first answer wins: a paused or dead broker costs a quarter
   * second, not a request timeout. Throws the last failure when none
   * answers (callers retry with backoff).
   */
  private fetchMetadata(topics: string[] | undefined): Promise<MetadataAnswer> {
    const body = topics === undefined ? {} : { topics };
    const candidates = this.candidates();
    const start = this.rotation++;
    const asked = new Set<BrokerConnection>();
    let lastError: unknown;
    return hedged<MetadataAnswer>({
      count: candidates.length,
      hedgeMs: sdkLimits.metadataHedgeMs,
      attempt: async (i, settled) => {
        const connection = await this.connection(candidates[(start + i) % candidates.length]!);
        if (settled() || !connection.isOpen || asked.has(connection)) return notAsked;
        asked.add(connection);
        const response = readMetadataResponse(await connection.request(methods.metadata, body, { timeoutMs: this.options.requestTimeoutMs }));
        return { response: await this.confirmMissing(response, connection.brokerId), from: connection.brokerId };
      },
      failed: (_i, error) => (lastError = error),
      exhausted: () => noAnswer(lastError),
    });
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
      const connection = await this.connection({ host: address.host, port: address.port });
      const second = readMetadataResponse(await connection.request(methods.metadata, { topics: response.missing }, { timeoutMs: this.options.requestTimeoutMs }));
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

/** NOT_LEADER naming the broker that leads now, for a request that went (or would have gone) to `was`. */
function movedError(topic: string, partition: number, was: number, hint: LeaderHint, outcome?: 'unknown'): SkeinError {
  const message = `broker ${was} no longer leads ${topic}/${partition}: the cluster names ${hint.leaderId ?? 'no leader yet'} at epoch ${hint.leaderEpoch}`;
  return new SkeinError('NOT_LEADER', { message, details: { ...hint, ...(outcome === undefined ? {} : { outcome }) } });
}

function noAnswer(lastError: unknown): SkeinError {
  return isSkeinError(lastError)
    ? lastError
    : new SkeinError('CONNECTION_REFUSED', { message: `no broker answered a metadata request: ${describeError(lastError)}`, cause: lastError });
}
