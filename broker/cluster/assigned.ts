import { partitionGroup } from '../partition/partition.js';
import type { MetadataState, TopicRecord } from './metadata-state.js';

/**
 * The partition replicas the metadata wants on one broker, by Raft group:
 * those it is a replica of, and, while a partition moves (admitted, not
 * queued), those the move adds it to. A replica a move adds, or any replica
 * of a partition that has moved before, opens empty and takes the group's
 * log from its leader: only the replicas a partition was created with write
 * its first entry themselves, and they all write the same one (a replica
 * that wrote its own first entry with other voters would hold a different
 * entry at the same index and term as the group's).
 */
export interface Assignment {
  topic: TopicRecord;
  partition: number;
  /** What the replica's descriptor records: the voters it bootstraps with, or the replicas wanted. */
  replicas: number[];
  bootstrap: boolean;
  /** The partition is moving: leadership stays where the move puts it (see LeaderBalancer). */
  moving: boolean;
}

export function assignedTo(state: MetadataState, brokerId: number): Map<string, Assignment> {
  const wanted = new Map<string, Assignment>();
  for (const topic of state.topicList()) {
    for (const p of topic.partitions) {
      const adding = p.move !== undefined && p.move.phase !== 'queued' && p.move.target.includes(brokerId) && !p.replicas.includes(brokerId);
      if (!p.replicas.includes(brokerId) && !adding) continue;
      const bootstrap = !adding && p.moved !== true;
      wanted.set(partitionGroup(topic.topicId, p.partition), { topic, partition: p.partition, replicas: adding ? [...p.move!.target] : [...p.replicas], bootstrap, moving: p.move !== undefined });
    }
  }
  return wanted;
}
