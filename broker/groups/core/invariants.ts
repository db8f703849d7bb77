import type { GroupTables } from './tables.js';
import { keyOf, type PartitionKey, type TopicPartition } from './partitions.js';

/**
 * The invariants every command keeps, as a check: what is wrong with a
 * group's state, or null. The property tests run it after every event, and
 * restoring a snapshot refuses a state that fails it. Above all: each owned
 * partition has exactly one owner, and no partition is both owned and held.
 */
export function groupInvariantProblem(group: GroupTables): string | null {
  return targetProblem(group) ?? ownershipProblem(group) ?? tablesProblem(group);
}

function targetProblem(group: GroupTables): string | null {
  const seenTarget = new Set<PartitionKey>();
  for (const [memberId, partitions] of group.target) {
    if (!group.members.has(memberId)) return `target names unknown member ${memberId}`;
    for (const tp of partitions) {
      const key = keyOf(tp);
      const shape = group.topics.get(tp.topic);
      if (shape === undefined || tp.partition >= shape.partitions) return `target holds ${key}, which the group does not know`;
      if (seenTarget.has(key)) return `${key} is in two targets`;
      seenTarget.add(key);
    }
  }
  return null;
}

function ownershipProblem(group: GroupTables): string | null {
  let ownedCount = 0;
  const instances = new Set<string>();
  for (const member of group.members.values()) {
    if (member.instanceId !== null && instances.has(member.instanceId)) return `two members have instance id ${member.instanceId}`;
    if (member.instanceId !== null) instances.add(member.instanceId);
    if (!group.target.has(member.memberId)) return `member ${member.memberId} has no target`;
    if ((member.revoking.size === 0) !== (member.revokingSinceMs === null)) return `member ${member.memberId}: revokingSinceMs disagrees with what it revokes`;
    if (member.awaySinceMs !== null && member.revoking.size > 0) return `away member ${member.memberId} still revokes`;
    for (const [key, owned] of [...member.assigned, ...member.revoking]) {
      if (key !== keyOf(owned.tp)) return `member ${member.memberId} files ${keyOf(owned.tp)} under ${key}`;
      if (group.owner.get(key) !== member.memberId) return `${key} is held by ${member.memberId} but owned by ${group.owner.get(key)}`;
      if (owned.sinceEpoch > member.epoch) return `${key} was given to ${member.memberId} at a future epoch`;
      if (member.epoch > group.memberEpochs) return `member ${member.memberId} is at epoch ${member.epoch}, past the last one given`;
      if (member.assigned.has(key) && member.revoking.has(key)) return `${key} is both assigned to and revoked from ${member.memberId}`;
      const shape = group.topics.get(owned.tp.topic);
      const current = shape !== undefined && shape.topicId === owned.topicId && owned.tp.partition < shape.partitions;
      if (member.assigned.has(key) && !current) return `${member.memberId} is assigned ${key} of a topic the group no longer knows`;
      ownedCount++;
    }
  }
  if (ownedCount !== group.owner.size) return `the owner index lists ${group.owner.size} partitions, members hold ${ownedCount}`;
  return null;
}

function tablesProblem(group: GroupTables): string | null {
  const known = (tp: TopicPartition): boolean => tp.partition < (group.topics.get(tp.topic)?.partitions ?? 0);
  for (const [key, hold] of group.holds) {
    if (group.owner.has(key)) return `${key} is both held and owned`;
    if (key !== keyOf(hold.tp)) return `a hold of ${keyOf(hold.tp)} is filed under ${key}`;
  }
  for (const o of group.offsets.values()) if (!known(o)) return `an offset of ${o.topic}/${o.partition}, which the group does not know`;
  if ((group.members.size === 0) !== (group.emptySinceMs !== null)) return 'emptySinceMs disagrees with the members';
  return null;
}
