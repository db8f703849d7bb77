import type { Member } from './member.js';
import type { PartitionKey, TopicPartition, TopicShape } from './partitions.js';

/**
 * A group's tables as its checks read them (invariants.ts, cost.ts). Group has them all; the checks take this
 * instead of Group so that group.ts, which runs them, is not imported back by them.
 */
export interface GroupTables {
  readonly name: string;
  /** The last member epoch given. */
  readonly memberEpochs: number;
  readonly emptySinceMs: number | null;
  readonly topics: ReadonlyMap<string, TopicShape>;
  readonly members: ReadonlyMap<string, Member>;
  readonly target: ReadonlyMap<string, readonly TopicPartition[]>;
  readonly owner: ReadonlyMap<PartitionKey, string>;
  readonly holds: ReadonlyMap<PartitionKey, { readonly tp: TopicPartition }>;
  readonly offsets: ReadonlyMap<PartitionKey, TopicPartition>;
  readonly replaced: ReadonlyMap<string, { readonly instanceId: string }>;
  /** Every topic name the group knows: its members' subscriptions and its topic shapes. */
  knownTopics(): Set<string>;
}
