import type { Prng } from '../transport/core/prng.js';
import { SkeinError } from '../transport/errors.js';
import { partitionForKey } from '../transport/protocol/murmur2.js';

/** What a partitioner sees of one record: its serialized key (null when keyless). */
export interface PartitionerInput {
  topic: string;
  key: Uint8Array | null;
  partitionCount: number;
}

/** Picks a partition in [0, partitionCount) for a record without an explicit `partition`. */
export type Partitioner = (input: PartitionerInput) => number;

/**
 * The default partitioner. Keyed records go to murmur2(key) like Kafka's, so
 * a key lands on the same partition from any client and any version. Keyless
 * records stick to one partition until its batch closes, then move on (Kafka's
 * KIP-480 sticky partitioner): whole batches fill up instead of many tiny
 * ones, and over time load still spreads evenly.
 */
export class DefaultPartitioner {
  private readonly sticky = new Map<string, number>();

  constructor(private readonly random: Prng) {}

  partition(input: PartitionerInput): number {
    if (input.key !== null) return partitionForKey(input.key, input.partitionCount);
    const current = this.sticky.get(input.topic);
    if (current !== undefined && current < input.partitionCount) return current;
    const chosen = this.random.int(0, input.partitionCount - 1);
    this.sticky.set(input.topic, chosen);
    return chosen;
  }

  /** A batch of `topic`/`partition` closed: keyless records move to another partition. */
  batchClosed(topic: string, partition: number, partitionCount: number): void {
    if (this.sticky.get(topic) !== partition) return;
    if (partitionCount <= 1) return;
    // Any partition but the one just filled, uniformly.
    const next = this.random.int(0, partitionCount - 2);
    this.sticky.set(topic, next >= partition ? next + 1 : next);
  }
}

/** Runs an application partitioner and holds its answer to the contract. */
export function checkedPartition(partitioner: Partitioner, input: PartitionerInput): number {
  let partition: unknown;
  try {
    partition = partitioner(input);
  } catch (cause) {
    throw new SkeinError('INVALID_ARGUMENT', { message: `the partitioner threw for topic ${input.topic}`, cause });
  }
  if (typeof partition !== 'number' || !Number.isInteger(partition) || partition < 0 || partition >= input.partitionCount) {
    throw new SkeinError('INVALID_ARGUMENT', {
      message: `the partitioner returned ${String(partition)} for topic ${input.topic}; it must be an integer in [0, ${input.partitionCount})`,
    });
  }
  return partition;
}
