import type { GroupTables } from './tables.js';

/**
 * What a group costs in a coordinator's snapshot, estimated from above: the
 * coordinator refuses growth (a join, a subscription, a reset) that would
 * take its state past groupLimits.coordinatorStateBytesMax, because a
 * snapshot travels whole in one Raft message. Strings count their UTF-8
 * bytes; everything else a fixed bound per entry (CBOR numbers take at most
 * 9 bytes, and every entry's framing is included). A test checks the
 * estimate bounds the real encoding.
 */
export const entryBytes = {
  /** A group's own fields: 11 map keys (93 bytes of names), 4 numbers of up to 9 bytes, 6 list headers, framing. */
  group: 192,
  /** A member's fixed fields: 14 map keys (147 bytes of names), 6 numbers, 4 string and 4 list headers, framing. */
  member: 256,
  /** One topic in a member's subscription (an index into the group's names). */
  subscription: 10,
  /** One name the group knows (its string header), with its shape [index, topicId, partitions]. */
  topic: 40,
  /** Per partition of a known topic: its target entry [index, partition] and committed offset [index, partition, offset, time] with its five counts. */
  partition: 104,
  /** A partition held until an expired member's lease ends, [index, partition, until] (its topic's name is counted with it). */
  hold: 32,
  /** One partition a member owns (assigned or revoking): [index, partition, sinceEpoch, topicId]. */
  owned: 32,
  /** A member replaced by another with its instance id, remembered to fence it: [memberId, instanceId, time] framing. */
  replaced: 24,
} as const;

/** An upper bound of `group`'s bytes in a snapshot. */
export function groupCostBytes(group: GroupTables): number {
  let bytes = entryBytes.group + utf8Bytes(group.name);
  for (const m of group.members.values()) {
    bytes += entryBytes.member + utf8Bytes(m.memberId) + utf8Bytes(m.instanceId ?? '') + utf8Bytes(m.clientId) + utf8Bytes(m.clientHost);
    bytes += m.topics.length * entryBytes.subscription + (m.assigned.size + m.revoking.size) * entryBytes.owned;
  }
  for (const name of group.knownTopics()) bytes += entryBytes.topic + utf8Bytes(name) + (group.topics.get(name)?.partitions ?? 0) * entryBytes.partition;
  for (const [memberId, r] of group.replaced) bytes += entryBytes.replaced + utf8Bytes(memberId) + utf8Bytes(r.instanceId);
  // Holds may name topics the group no longer knows (and so counts nowhere else).
  for (const hold of group.holds.values()) bytes += entryBytes.hold + utf8Bytes(hold.tp.topic);
  return bytes;
}

export function utf8Bytes(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      // A surrogate pair is one 4-byte character.
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
