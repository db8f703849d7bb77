import { SkeinError } from '../../transport/errors.js';

/**
 * Places the replicas of a new topic's partitions on brokers so that both
 * replicas and preferred leaders (the first replica) spread evenly, counting
 * what the cluster already carries. Deterministic for one input, so tests and
 * the simulator can rely on it.
 */
export interface AssignmentInput {
  partitions: number;
  replicationFactor: number;
  /** Brokers that may take replicas, e.g. the live ones. */
  brokers: readonly number[];
  /** Replicas and leaderships each broker already carries (for balance across topics). */
  load?: ReadonlyMap<number, { replicas: number; leaders: number }>;
}

export function assignReplicas(input: AssignmentInput): number[][] {
  const brokers = [...new Set(input.brokers)].sort((a, b) => a - b);
  if (input.replicationFactor > brokers.length) {
    throw new SkeinError('INVALID_REPLICATION_FACTOR', {
      message: `replication factor ${input.replicationFactor} needs ${input.replicationFactor} live brokers, the cluster has ${brokers.length}`,
    });
  }
  const replicas = new Map(brokers.map((id) => [id, input.load?.get(id)?.replicas ?? 0]));
  const leaders = new Map(brokers.map((id) => [id, input.load?.get(id)?.leaders ?? 0]));
  const out: number[][] = [];
  for (let p = 0; p < input.partitions; p++) {
    // Leader: fewest leaderships, then fewest replicas, then lowest id.
    const leader = [...brokers].sort((a, b) => leaders.get(a)! - leaders.get(b)! || replicas.get(a)! - replicas.get(b)! || a - b)[0]!;
    const chosen = [leader];
    const followers = brokers
      .filter((id) => id !== leader)
      // Rotating the tie-break by partition keeps followers of equal load from always landing on the lowest ids.
      .sort((a, b) => replicas.get(a)! - replicas.get(b)! || rotate(a, p, brokers) - rotate(b, p, brokers));
    chosen.push(...followers.slice(0, input.replicationFactor - 1));
    for (const id of chosen) replicas.set(id, replicas.get(id)! + 1);
    leaders.set(leader, leaders.get(leader)! + 1);
    out.push(chosen);
  }
  return out;
}

function rotate(id: number, partition: number, brokers: readonly number[]): number {
  const i = brokers.indexOf(id);
  return (i - partition + brokers.length * 1024) % brokers.length;
}
