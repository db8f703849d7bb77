import { SkeinError } from '../../transport/errors.js';
import { groupLimits } from '../../transport/limits.js';
import { methods, type ListOffsetsResponse } from '../../transport/protocol/messages.js';
import type { OffsetEntry } from '../../transport/protocol/groups.js';
import type { MetadataState } from '../cluster/metadata-state.js';
import type { Partition } from '../partition/partition.js';

/**
 * Checks that committed offsets do not pass the end of their partition (its
 * high watermark), so a bad client cannot make a group skip records that do
 * not exist yet. A coordinator rarely leads the data partitions, so it keeps
 * the highest end it has seen per partition (a high watermark never goes
 * down; a recreated topic has a new id) and asks the partition's leader only
 * when an offset passes it: about one lookup per partition per commit
 * interval for a consumer that is caught up. Bounded; one lookup in flight
 * per partition.
 */
export interface EndOffsetsOptions {
  readonly brokerId: number;
  metadata(): MetadataState;
  partition(topic: string, partition: number): Partition | undefined;
  askPeer<T>(brokerId: number, method: string, body: unknown, signal: AbortSignal): Promise<T>;
}

export class EndOffsets {
  private readonly known = new Map<string, number>();
  private readonly lookups = new Map<string, Promise<number>>();

  constructor(private readonly options: EndOffsetsOptions) {}

  /** Throws OFFSET_OUT_OF_RANGE (or UNKNOWN_TOPIC / UNKNOWN_PARTITION) for the first offset past its partition's end. */
  async check(offsets: readonly OffsetEntry[], signal: AbortSignal): Promise<void> {
    await Promise.all(
      offsets.map(async (o) => {
        const end = await this.endAtLeast(o, signal);
        if (o.offset > end) {
          throw new SkeinError('OFFSET_OUT_OF_RANGE', { message: `offset ${o.offset} of ${o.topic}/${o.partition} is past its end (${end})`, details: { topic: o.topic, partition: o.partition, end } });
        }
      }),
    );
  }

  /** The partition's end, or at least one not below `o.offset` if that is known here. */
  private async endAtLeast(o: OffsetEntry, signal: AbortSignal): Promise<number> {
    const key = `${o.topicId}/${o.partition}`;
    const cached = this.known.get(key) ?? -1;
    if (cached >= o.offset) return cached;
    const local = this.options.partition(o.topic, o.partition);
    if (local !== undefined && local.topicId === o.topicId && (local.highWatermark >= o.offset || local.isLeader())) return this.remember(key, local.highWatermark);
    let lookup = this.lookups.get(key);
    if (lookup === undefined) {
      lookup = this.ask(o, signal).finally(() => this.lookups.delete(key));
      this.lookups.set(key, lookup);
    }
    return this.remember(key, await lookup);
  }

  private async ask(o: OffsetEntry, signal: AbortSignal): Promise<number> {
    const record = this.options.metadata().topic(o.topic);
    if (record === undefined || record.topicId !== o.topicId) throw new SkeinError('UNKNOWN_TOPIC', { message: `topic ${o.topic} with id ${o.topicId} does not exist (it was deleted or recreated)`, details: { topic: o.topic } });
    const info = record.partitions[o.partition];
    if (info === undefined) throw new SkeinError('UNKNOWN_PARTITION', { message: `topic ${o.topic} has no partition ${o.partition}` });
    if (info.leader === null || info.leader === this.options.brokerId) {
      throw new SkeinError('LEADER_NOT_AVAILABLE', { message: `the end of ${o.topic}/${o.partition} cannot be checked: its leader is not known here yet` });
    }
    const response = await this.options.askPeer<ListOffsetsResponse>(info.leader, methods.listOffsets, { topic: o.topic, partition: o.partition, spec: 'latest' }, signal);
    if (typeof response?.offset !== 'number' || !Number.isSafeInteger(response.offset) || response.offset < 0) {
      throw new SkeinError('PROTOCOL_VIOLATION', { message: `broker ${info.leader} answered listOffsets without an offset` });
    }
    return response.offset;
  }

  private remember(key: string, end: number): number {
    const best = Math.max(end, this.known.get(key) ?? -1);
    this.known.delete(key);
    this.known.set(key, best);
    if (this.known.size > groupLimits.endOffsetsCachedMax) this.known.delete(this.known.keys().next().value!);
    return best;
  }
}
