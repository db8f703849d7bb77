/**
 * Partitions as a consumer group sees them: a topic name and a partition
 * number, keyed as "topic/partition" in maps (a topic name never holds a
 * slash, see topicNameProblem), and the shape of a topic as the coordinator
 * stamped it from the cluster metadata into the commands of its log.
 */

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** A topic as the group knows it: its id (a recreated topic has a new one) and its partition count. */
export interface TopicShape {
  readonly name: string;
  readonly topicId: number;
  readonly partitions: number;
}

export type PartitionKey = string;

export function partitionKey(topic: string, partition: number): PartitionKey {
  return `${topic}/${partition}`;
}

export function keyOf(tp: TopicPartition): PartitionKey {
  return partitionKey(tp.topic, tp.partition);
}

/** Topic by name (code-unit order, the same on every replica), then partition number. */
export function comparePartitions(a: TopicPartition, b: TopicPartition): number {
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1;
  return a.partition - b.partition;
}

export function sortedPartitions(partitions: Iterable<TopicPartition>): TopicPartition[] {
  return [...partitions].map((p) => ({ topic: p.topic, partition: p.partition })).sort(comparePartitions);
}

/** Code-unit order, locale-free: replicas must sort identically whatever their environment. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
