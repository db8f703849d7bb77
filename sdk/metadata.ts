import { type Clock, systemClock } from '../transport/clock.js';
import { SkeinError, isSkeinError } from '../transport/errors.js';
import type { BrokerInfo, LeaderHint, MetadataResponse, PartitionMetadata, TopicMetadata } from '../transport/protocol/messages.js';
import { abortable } from '../transport/abort.js';
import type { BrokerAddress } from './address.js';

interface CachedTopic {
  meta: TopicMetadata;
  fetchedAtMs: number;
  /** Set when a request learnt the cache is wrong; the next reader refreshes first. */
  stale: boolean;
}

/** A metadata answer and the broker that gave it (null when unknown). */
export interface MetadataAnswer {
  response: MetadataResponse;
  from: number | null;
}

export interface MetadataCacheOptions {
  /** Asks some broker for metadata of `topics` (all topics when undefined). */
  fetch: (topics: string[] | undefined) => Promise<MetadataAnswer>;
  maxAgeMs: number;
  /** Where the age of what is cached is read (a test moves it by hand); systemClock by default. */
  clock?: Pick<Clock, 'nowMs'>;
}

/**
 * The client's view of the cluster: brokers, topics, partition leaders.
 *
 * Refreshes are coalesced: while one is in flight, callers that need fresher
 * data than it will bring queue one follow-up refresh for the union of their
 * topics, so a leader change seen by a thousand in-flight requests costs two
 * metadata requests, not a thousand.
 *
 * Leadership only moves forward: a partition's leader is replaced only by news
 * with an equal or larger leader epoch, so a lagging broker's stale answer (or
 * a stale hint) never undoes fresher knowledge. "No leader" at the same epoch
 * is news only from the broker we thought led: it knows it does not (it was
 * deposed), while any other broker may simply not have heard yet.
 */
export class MetadataCache {
  private readonly brokers = new Map<number, BrokerInfo>();
  private readonly topics = new Map<string, CachedTopic>();
  clusterId: string | null = null;
  controllerId: number | null = null;
  private inflight: Promise<void> | null = null;
  private queued: { topics: Set<string> | 'all'; promise: Promise<void> } | null = null;
  private readonly clock: Pick<Clock, 'nowMs'>;
  /** Metadata requests sent (a test and a tuning aid: coalescing keeps it low). */
  refreshes = 0;

  constructor(private readonly options: MetadataCacheOptions) {
    this.clock = options.clock ?? systemClock;
  }

  /** The topic's metadata if the cache holds it fresh, without any request. */
  fresh(name: string): TopicMetadata | undefined {
    const cached = this.topics.get(name);
    return cached !== undefined && !cached.stale && this.clock.nowMs() - cached.fetchedAtMs <= this.options.maxAgeMs ? cached.meta : undefined;
  }

  /** The topic's metadata, refreshed first when absent, stale or old. UNKNOWN_TOPIC when the cluster has no such topic. */
  async topic(name: string, signal?: AbortSignal): Promise<TopicMetadata> {
    const fresh = this.fresh(name);
    if (fresh !== undefined) return fresh;
    await abortable(this.refresh([name]), signal);
    const refreshed = this.topics.get(name);
    if (refreshed === undefined) throw new SkeinError('UNKNOWN_TOPIC', { message: `topic ${JSON.stringify(name)} does not exist`, details: { topic: name } });
    return refreshed.meta;
  }

  /** The cached partition, without refreshing. */
  partition(topic: string, partition: number): PartitionMetadata | undefined {
    return this.topics.get(topic)?.meta.partitions[partition];
  }

  broker(id: number): BrokerInfo | undefined {
    return this.brokers.get(id);
  }

  knownBrokers(): BrokerInfo[] {
    return [...this.brokers.values()];
  }

  /** Marks a topic's metadata as wrong; the next reader refreshes it. */
  invalidate(topic: string): void {
    const cached = this.topics.get(topic);
    if (cached !== undefined) cached.stale = true;
  }

  /**
   * Refreshes `topics` (all when undefined). Joins the refresh in flight only
   * through a queued follow-up, because the one in flight may have been sent
   * before the change the caller just saw.
   */
  refresh(topics?: readonly string[]): Promise<void> {
    if (this.inflight === null) return this.start(topics === undefined ? 'all' : new Set(topics));
    if (this.queued === null) {
      const queued: { topics: Set<string> | 'all'; promise: Promise<void> } = { topics: new Set(), promise: Promise.resolve() };
      // No follow-up after a first contact that reached no broker: it would wait the whole window again for the same answer.
      queued.promise = this.inflight.then(
        () => null,
        (error: unknown) => (isSkeinError(error, 'NO_BROKERS_REACHABLE') ? error : null),
      ).then((unreachable) => {
        this.queued = null;
        if (unreachable !== null) throw unreachable;
        return this.start(queued.topics);
      });
      this.queued = queued;
    }
    if (topics === undefined) this.queued.topics = 'all';
    else if (this.queued.topics !== 'all') for (const t of topics) this.queued.topics.add(t);
    return this.queued.promise;
  }

  private start(topics: Set<string> | 'all'): Promise<void> {
    this.refreshes++;
    const request = topics === 'all' ? undefined : [...topics];
    const promise = this.options.fetch(request).then(({ response, from }) => this.apply(response, request, from));
    this.inflight = promise;
    const clear = (): void => {
      if (this.inflight === promise) this.inflight = null;
    };
    promise.then(clear, clear);
    return promise;
  }

  /** Merges a metadata response from broker `from` (also used for the answer a broker gives on its own). */
  apply(response: MetadataResponse, requested?: readonly string[], from: number | null = null): void {
    const at = this.clock.nowMs();
    this.clusterId = response.clusterId;
    this.controllerId = response.controllerId;
    for (const broker of response.brokers) this.brokers.set(broker.id, broker);
    for (const unordered of response.topics) {
      // Partition n sits at index n from here on.
      const topic = { ...unordered, partitions: unordered.partitions.slice().sort((a, b) => a.partition - b.partition) };
      const cached = this.topics.get(topic.name);
      if (cached === undefined || cached.meta.topicId !== topic.topicId) {
        this.topics.set(topic.name, { meta: topic, fetchedAtMs: at, stale: false });
        continue;
      }
      const partitions = topic.partitions.map((fresh) => {
        const known = cached.meta.partitions[fresh.partition];
        if (known === undefined) return fresh;
        if (known.leaderEpoch > fresh.leaderEpoch) return known;
        // Same term, and this broker has not heard of its leader yet: keep what we know.
        if (known.leaderEpoch === fresh.leaderEpoch && fresh.leader === null && (from === null || from !== known.leader)) return known;
        return fresh;
      });
      this.topics.set(topic.name, { meta: { ...topic, partitions }, fetchedAtMs: at, stale: false });
    }
    for (const name of response.missing) this.topics.delete(name);
    // Asking for every topic and not hearing of one means it is gone.
    if (requested === undefined) {
      const present = new Set(response.topics.map((t) => t.name));
      for (const name of this.topics.keys()) if (!present.has(name)) this.topics.delete(name);
    }
  }

  /**
   * Applies the hint of a NOT_LEADER answer from broker `from`. Returns true
   * when the hint names a leader we can go to now (a redirect); false when it
   * says nothing new and the caller should refresh and back off.
   */
  applyHint(topic: string, partition: number, hint: LeaderHint, from: number | null): boolean {
    const cached = this.topics.get(topic);
    const known = cached?.meta.partitions[partition];
    if (cached === undefined || known === undefined) return false;
    if (hint.leaderId === null || hint.leaderId === from) {
      // The broker we took for the leader says it is not, and knows no other: stop sending to it.
      if (from !== null && known.leader === from && hint.leaderEpoch >= known.leaderEpoch) this.setLeader(cached, partition, null, hint.leaderEpoch);
      cached.stale = true;
      return false;
    }
    if (hint.leaderEpoch < known.leaderEpoch) return known.leader !== null && known.leader !== from;
    if (hint.host !== undefined && hint.port !== undefined && !this.brokers.has(hint.leaderId)) {
      this.brokers.set(hint.leaderId, { id: hint.leaderId, host: hint.host, port: hint.port });
    }
    if (!this.brokers.has(hint.leaderId)) {
      cached.stale = true;
      return false;
    }
    this.setLeader(cached, partition, hint.leaderId, hint.leaderEpoch);
    return true;
  }

  private setLeader(cached: CachedTopic, partition: number, leader: number | null, leaderEpoch: number): void {
    const partitions = cached.meta.partitions.slice();
    partitions[partition] = { ...partitions[partition]!, leader, leaderEpoch };
    cached.meta = { ...cached.meta, partitions };
  }

  brokerAddress(id: number): BrokerAddress | undefined {
    const broker = this.brokers.get(id);
    return broker === undefined ? undefined : { host: broker.host, port: broker.port };
  }
}

/** Reads a NOT_LEADER error's details as a hint, or null when they are not one. */
export function leaderHintOf(details: Readonly<Record<string, unknown>> | undefined): LeaderHint | null {
  if (details === undefined) return null;
  const { leaderId, host, port, leaderEpoch } = details;
  if (leaderId !== null && !(typeof leaderId === 'number' && Number.isSafeInteger(leaderId))) return null;
  if (typeof leaderEpoch !== 'number' || !Number.isSafeInteger(leaderEpoch)) return null;
  const hint: LeaderHint = { leaderId, leaderEpoch };
  if (typeof host === 'string' && typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536) {
    hint.host = host;
    hint.port = port;
  }
  return hint;
}
