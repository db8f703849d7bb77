import { systemClock } from '../../transport/clock.js';
import { isSkeinError, SkeinError } from '../../transport/errors.js';
import { groupLimits, sdkLimits } from '../../transport/limits.js';
import { groupNameProblem, type GroupPartition, type MemberProgress, type OffsetEntry } from '../../transport/protocol/groups.js';
import { OptionReader } from '../check.js';
import type { Cluster } from '../cluster.js';
import { checkFrom, defaultFrom, type From } from '../consumer/from.js';
import { StatusFeed } from '../subscription/status.js';
import { retrying } from '../retry.js';
import { resolveTopic, type TopicDefinition, type TopicInput } from '../topic.js';
import { Membership, type OwnedPartition } from './membership.js';

/** Options every group consumer takes (pull and push). */
export interface GroupOptions<V = unknown, K = unknown> {
  /** The consumer group: members of one group share the partitions of its topics, and its committed offsets. */
  group: string;
  /** One topic, or `topics` for several. */
  topic?: TopicInput<V, K>;
  topics?: readonly TopicInput<V, K>[];
  /** Where to start a partition the group has no committed offset for. Default 'earliest'. */
  from?: From;
  /** Static membership: a restarted member with the same instance id gets its partitions back without a rebalance, within its session. */
  instanceId?: string;
  /** How long the coordinator waits without a heartbeat before giving this member's partitions to others. Default 10 s. */
  sessionTimeoutMs?: number;
  /** How long a revoked partition may take to drain and commit before the member is expelled. Default 60 s. */
  rebalanceTimeoutMs?: number;
  /** Commit what the application finished every autoCommitIntervalMs (and on revocation and close). Default true. */
  autoCommit?: boolean;
  autoCommitIntervalMs?: number;
  /** Runs before the first record of newly given partitions is handed out. */
  onAssigned?: (partitions: GroupPartition[]) => unknown;
  /** Runs after a revoked partition's records in hand are finished and before its final commit and release. */
  onRevoked?: (partitions: GroupPartition[], info: { reason: RevokeReason }) => unknown;
}

export type RevokeReason = 'revoked' | 'lost' | 'closing' | 'failed';

/** What a group consumer's status feed says. */
export type GroupStatus =
  | { type: 'joined'; memberId: string; epoch: number }
  | { type: 'assigned'; partitions: GroupPartition[] }
  | { type: 'revoked'; partitions: GroupPartition[] }
  | { type: 'lost'; partitions: GroupPartition[]; reason: string }
  | { type: 'committed'; offsets: { topic: string; partition: number; offset: number }[] }
  | { type: 'commitFailed'; error: SkeinError }
  | { type: 'hookError'; hook: 'onAssigned' | 'onRevoked'; error: unknown }
  /** `attempt` 0: the record did not deserialize, so no handler ran (it goes straight to the dead-letter topic, or is skipped). */
  | { type: 'handlerError'; topic: string; partition: number; offset: number; attempt: number; error: unknown }
  | { type: 'deadLettered'; topic: string; partition: number; offset: number; deadLetterTopic: string; attempts: number }
  | { type: 'skipped'; topic: string; partition: number; reason: 'retention' | 'handler'; from: number; to: number }
  | { type: 'failed'; error: SkeinError }
  | { type: 'closed' };

/** Where one owned partition stands: records handed to the application, finished by it, and committed. */
export interface Progress {
  readonly owned: OwnedPartition;
  /** The offset after the last record handed out (null: none yet). */
  handed: number | null;
  /** The offset after the last record finished with: what a commit stores. */
  finished: number | null;
  committed: number | null;
  /** The offset after the last record read from the log (null: none yet). */
  fetched: number | null;
  /** `finished` when a heartbeat last reported it, and since when it had not moved then. */
  reported: { finished: number | null; sinceMs: number };
  /** Records of this partition dead-lettered, and skipped, since it was given to this member: sent with its commits. */
  deadLettered: number;
  skipped: number;
}

export const groupOptionNames = ['group', 'topic', 'topics', 'from', 'instanceId', 'sessionTimeoutMs', 'rebalanceTimeoutMs', 'autoCommit', 'autoCommitIntervalMs', 'onAssigned', 'onRevoked'];

/**
 * What pull and push group consumers share: the membership (its heartbeats,
 * lease and handshake, see Membership), the progress of each owned
 * partition, commits (automatic, on revocation and close, or by hand), the
 * hooks and the status feed. A subclass reads the partitions: it starts one,
 * drains one (stops reading and waits until every record it handed out is
 * finished), or drops one at once.
 */
export abstract class GroupSession<V, K> {
  readonly group: string;
  protected readonly topics = new Map<string, TopicDefinition<V, K>>();
  protected readonly progress = new Map<string, Progress>();
  protected readonly feed = new StatusFeed<GroupStatus>(sdkLimits.statusEventsMax);
  protected readonly membership: Membership;
  protected failure: SkeinError | null = null;
  protected closingFlag = false;
  private readonly from: From;
  private readonly autoCommit: boolean;
  private readonly hooks: Pick<GroupOptions<V, K>, 'onAssigned' | 'onRevoked'>;
  private cancelCommitTimer: (() => void) | null = null;
  private readonly commitIntervalMs: number;
  private changes: Promise<void> = Promise.resolve();
  /** Bumped when everything is lost: changes queued before it must not start partitions. */
  private incarnation = 0;
  private closing: Promise<void> | null = null;
  private markClosed!: { resolve: () => void; reject: (error: unknown) => void };
  /** Resolves once the consumer has left its group and stopped; rejects with the error that ended it, if one did. */
  readonly closed: Promise<void> = new Promise((resolve, reject) => (this.markClosed = { resolve, reject }));

  constructor(
    protected readonly cluster: Cluster,
    options: GroupOptions<V, K>,
    r: OptionReader,
    private readonly onClosed: () => void,
  ) {
    this.closed.catch(() => {});
    const problem = groupNameProblem(options.group);
    if (problem !== null) throw r.fail(`${r.where}: group: ${problem}`);
    this.group = options.group;
    for (const topic of topicsOf(options, r)) this.topics.set(topic.name, topic);
    this.from = r.has('from') ? checkFrom(options.from, r.where) : defaultFrom;
    const instanceId = r.has('instanceId') ? r.string('instanceId', { bytesMax: groupLimits.instanceIdBytesMax }, '') : null;
    if (instanceId === '') throw r.fail(`${r.where}: instanceId must not be empty`);
    const sessionTimeoutMs = r.int('sessionTimeoutMs', { min: groupLimits.sessionTimeoutMsMin, max: groupLimits.sessionTimeoutMsMax }, groupLimits.sessionTimeoutMsDefault);
    const rebalanceTimeoutMs = r.int('rebalanceTimeoutMs', { min: groupLimits.rebalanceTimeoutMsMin, max: groupLimits.rebalanceTimeoutMsMax }, groupLimits.rebalanceTimeoutMsDefault);
    this.autoCommit = r.bool('autoCommit', true);
    this.commitIntervalMs = r.int('autoCommitIntervalMs', { min: groupLimits.autoCommitIntervalMsMin, max: groupLimits.autoCommitIntervalMsMax }, groupLimits.autoCommitIntervalMsDefault);
    this.hooks = { onAssigned: r.fn('onAssigned') as GroupOptions['onAssigned'], onRevoked: r.fn('onRevoked') as GroupOptions['onRevoked'] };
    this.membership = new Membership(cluster, { group: this.group, topics: [...this.topics.keys()], instanceId, sessionTimeoutMs, rebalanceTimeoutMs }, {
      joined: (memberId, epoch) => this.feed.emit({ type: 'joined', memberId, epoch }),
      assigned: (partitions) => this.queue(() => this.assigned(partitions)),
      revoked: (partitions) => this.queue(() => this.revoked(partitions, this.closingFlag ? 'closing' : 'revoked')),
      lost: (partitions, reason) => this.lost(partitions, reason),
      failed: (error) => this.fail(error),
      progress: () => this.report(),
    });
  }

  /**
   * Joins the group and starts auto-commit: called by a subclass once every option is read, so an
   * option refused after this class's leaves nothing running.
   */
  protected begin(alsoNeeded: readonly string[] = []): void {
    void this.confirmTopics([...this.topics.keys(), ...alsoNeeded]).then(() => {
      if (this.failure !== null || this.closing !== null) return;
      this.membership.start();
      if (this.autoCommit) {
        this.cancelCommitTimer = systemClock.every(this.commitIntervalMs, () => void this.commitFinished().catch(() => {}), { keepAlive: false });
      }
    });
  }

  /**
   * A topic that does not exist ends the consumer before it joins (UNKNOWN_TOPIC), as a plain
   * consumer's first read would: the coordinator would give a member nothing of it, silently.
   * Any other failure to ask is left to the membership, which keeps trying to reach the cluster.
   */
  private async confirmTopics(names: readonly string[]): Promise<void> {
    const deadlineMs = this.cluster.deadline({});
    for (const topic of names) {
      try {
        await retrying({ what: `metadata of ${topic}`, signal: undefined, deadlineMs, onFailure: (error) => this.cluster.classify(error, { topic }) }, (signal) => this.cluster.metadata.topic(topic, signal));
      } catch (error) {
        if (isSkeinError(error, 'UNKNOWN_TOPIC')) return this.fail(error);
        return;
      }
    }
  }

  /** Status events: joins, assignments, revocations, commits and failures. Bounded per reader (the oldest are dropped). */
  status(): AsyncIterableIterator<GroupStatus> {
    return this.feed.iterate();
  }

  /** The partitions this member owns now (not those being revoked). */
  assignment(): GroupPartition[] {
    return this.membership.assignment().map((o) => ({ topic: o.topic, partition: o.partition }));
  }

  /**
   * Commits what the application finished (no argument), or an explicit
   * offset of one owned partition: the next record to read, at most the one
   * after the last handed out (OFFSET_OUT_OF_RANGE beyond). STALE_MEMBER_EPOCH
   * when the partition is not this member's any more.
   */
  async commit(explicit?: { topic: string; partition: number; offset: number }): Promise<void> {
    this.throwIfEnded('commit');
    if (explicit === undefined) return this.commitFinished();
    const r = new OptionReader(explicit, 'commit', 'INVALID_ARGUMENT', ['topic', 'partition', 'offset']);
    const offset = r.int('offset', { min: 0, max: Number.MAX_SAFE_INTEGER }, -1);
    const progress = this.progress.get(`${String(explicit.topic)}/${String(explicit.partition)}`);
    if (progress === undefined || !this.membership.mayConsume(progress.owned.topic, progress.owned.partition)) {
      throw new SkeinError('STALE_MEMBER_EPOCH', { message: `commit: ${String(explicit.topic)}/${String(explicit.partition)} is not owned by this member now`, details: { topic: explicit.topic, partition: explicit.partition } });
    }
    if (offset < 0 || offset > (progress.handed ?? progress.committed ?? 0)) {
      throw new SkeinError('OFFSET_OUT_OF_RANGE', { message: `commit: offset ${offset} of ${progress.owned.topic}/${progress.owned.partition} is past what was handed out (${progress.handed ?? 'nothing yet'})` });
    }
    await this.send([{ ...entryOf(progress), offset }]);
  }

  /** Commits the finished offsets of the owned partitions (of `only`, when given) that moved since their last commit. */
  protected async commitFinished(only?: ReadonlySet<string>): Promise<void> {
    const offsets: OffsetEntry[] = [];
    for (const [key, p] of this.progress) {
      if (only !== undefined && !only.has(key)) continue;
      if (p.finished !== null && p.finished > (p.committed ?? -1)) offsets.push({ ...entryOf(p), offset: p.finished });
    }
    if (offsets.length > 0) await this.send(offsets);
  }

  private async send(offsets: OffsetEntry[]): Promise<void> {
    try {
      const response = await this.membership.commit(offsets);
      for (const o of response.offsets ?? []) {
        const p = this.progress.get(`${o.topic}/${o.partition}`);
        if (p !== undefined) p.committed = Math.max(p.committed ?? 0, o.offset);
      }
      this.feed.emit({ type: 'committed', offsets: offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })) });
    } catch (error) {
      const failure = isSkeinError(error) ? error : new SkeinError('INTERNAL', { message: String(error), cause: error });
      this.feed.emit({ type: 'commitFailed', error: failure });
      throw failure;
    }
  }

  /** Each partition's progress for the next heartbeat; idleMs is timed from the report that first saw `finished` where it is. */
  private report(): MemberProgress[] {
    const nowMs = systemClock.nowMs();
    return [...this.progress.values()].map((p) => {
      if (p.finished !== p.reported.finished) p.reported = { finished: p.finished, sinceMs: nowMs };
      const { topic, partition } = p.owned;
      return { topic, partition, fetched: p.fetched, finished: p.finished, idleMs: Math.max(0, Math.round(nowMs - p.reported.sinceMs)), deadLettered: p.deadLettered, skipped: p.skipped };
    });
  }

  /** Counts records of a partition dead-lettered or skipped (`skipped` events say which), for describeGroup. */
  protected count(tp: { topic: string; partition: number }, what: 'deadLettered' | 'skipped', records: number): void {
    const p = this.progress.get(keyOf(tp));
    if (p !== undefined) p[what] += records;
  }

  /** Records up to `next` of a partition were read from the log. */
  protected fetchedUpTo(tp: { topic: string; partition: number }, next: number): void {
    const p = this.progress.get(keyOf(tp));
    if (p !== undefined && (p.fetched === null || next > p.fetched)) p.fetched = next;
  }

  // ------------------------------------------------------------------ what subclasses do

  protected abstract start(owned: OwnedPartition, from: From): void;
  protected abstract drain(owned: OwnedPartition[]): Promise<void>;
  protected abstract drop(owned: OwnedPartition[]): void;
  /** Something changed that a waiting reader may care about (an assignment, a failure, closing). */
  protected abstract changed(): void;

  // ------------------------------------------------------------------ the handshake

  private queue(change: () => Promise<void>): Promise<void> {
    const run = this.changes.then(change);
    this.changes = run.catch(() => {});
    return run;
  }

  private async assigned(partitions: OwnedPartition[]): Promise<void> {
    const incarnation = this.incarnation;
    await this.runHook('onAssigned', () => this.hooks.onAssigned?.(partitions.map(tpOf)));
    if (incarnation !== this.incarnation || this.failure !== null) return;
    for (const owned of partitions) {
      this.progress.set(keyOf(owned), { owned, handed: null, finished: null, committed: owned.committed, fetched: null, reported: { finished: null, sinceMs: systemClock.nowMs() }, deadLettered: 0, skipped: 0 });
      this.start(owned, owned.committed !== null ? { offset: owned.committed } : this.from);
    }
    this.feed.emit({ type: 'assigned', partitions: partitions.map(tpOf) });
    this.changed();
  }

  private async revoked(partitions: OwnedPartition[], reason: RevokeReason): Promise<void> {
    const keys = new Set(partitions.map(keyOf));
    await this.drain(partitions);
    await this.runHook('onRevoked', () => this.hooks.onRevoked?.(partitions.map(tpOf), { reason }));
    if (this.failure === null) await this.commitFinished(keys).catch(() => {});
    for (const key of keys) this.progress.delete(key);
    this.feed.emit({ type: 'revoked', partitions: partitions.map(tpOf) });
  }

  private lost(partitions: OwnedPartition[], reason: string): void {
    this.incarnation++;
    this.drop(partitions);
    for (const owned of partitions) this.progress.delete(keyOf(owned));
    if (partitions.length > 0) void this.runHook('onRevoked', () => this.hooks.onRevoked?.(partitions.map(tpOf), { reason: 'lost' }));
    this.feed.emit({ type: 'lost', partitions: partitions.map(tpOf), reason });
    this.changed();
  }

  private async runHook(hook: 'onAssigned' | 'onRevoked', run: () => unknown): Promise<void> {
    try {
      await run();
    } catch (error) {
      this.feed.emit({ type: 'hookError', hook, error });
    }
  }

  /** Ends the consumer loudly: a `failed` event, the iterator and `closed` reject with the error. */
  protected fail(error: SkeinError): void {
    if (this.failure !== null || this.closing !== null) return;
    this.failure = error;
    this.membership.stop();
    const held = [...this.progress.values()].map((p) => p.owned);
    this.drop(held);
    this.progress.clear();
    if (held.length > 0) void this.runHook('onRevoked', () => this.hooks.onRevoked?.(held.map(tpOf), { reason: 'failed' }));
    this.feed.emit({ type: 'failed', error });
    this.changed();
    void this.close();
  }

  protected throwIfEnded(what: string): void {
    if (this.failure !== null) throw this.failure;
    if (this.closing !== null) throw new SkeinError('CLIENT_CLOSED', { message: `${what}: the group consumer is closed` });
  }

  /**
   * Leaves the group: stops reading, finishes (or, for pull, takes as they
   * are) the records in hand, commits, runs onRevoked, and tells the
   * coordinator. Idempotent.
   */
  close(): Promise<void> {
    if (this.closing === null) {
      this.closingFlag = true;
      this.changed();
      this.closing = (async () => {
        this.cancelCommitTimer?.();
        if (this.failure === null) await this.membership.leave();
        else this.membership.stop();
        await this.changes;
        this.feed.emit({ type: 'closed' });
        this.feed.end();
        this.onClosed();
        if (this.failure !== null) this.markClosed.reject(this.failure);
        else this.markClosed.resolve();
      })();
    }
    return this.closing.catch(() => {});
  }
}

function topicsOf<V, K>(options: GroupOptions<V, K>, r: OptionReader): TopicDefinition<V, K>[] {
  const list = options.topics !== undefined ? options.topics : options.topic !== undefined ? [options.topic] : [];
  if (!Array.isArray(list) || list.length === 0 || (options.topics !== undefined && options.topic !== undefined)) throw r.fail(`${r.where}: give topic, or topics (a non-empty list)`);
  if (list.length > groupLimits.topicsPerGroupMax) throw r.fail(`${r.where}: at most ${groupLimits.topicsPerGroupMax} topics`);
  return list.map((t) => resolveTopic(t, r.where));
}

export function keyOf(tp: { topic: string; partition: number }): string {
  return `${tp.topic}/${tp.partition}`;
}

function tpOf(owned: OwnedPartition): GroupPartition {
  return { topic: owned.topic, partition: owned.partition };
}

/** A commit's entry for a partition, with its dead-letter and skip counts since it was given (the group keeps them with the offset). */
function entryOf(p: Progress): Omit<OffsetEntry, 'offset'> {
  const { topic, topicId, partition } = p.owned;
  return { topic, topicId, partition, ...(p.deadLettered > 0 ? { deadLettered: p.deadLettered } : {}), ...(p.skipped > 0 ? { skipped: p.skipped } : {}) };
}
