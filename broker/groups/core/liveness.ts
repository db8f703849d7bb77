import type { GroupCommand } from './commands.js';
import type { Member } from './member.js';
import type { GroupShard } from './shard.js';

/**
 * Which members are alive, as the coordinator knows it: when it last heard
 * each one's heartbeat. Soft state of the leader only (heartbeats that change
 * nothing are answered without a write), so a new coordinator starts from
 * scratch: it gives every member a full session from its first instant as
 * leader, plus `failoverGraceMs`, because the previous coordinator may have
 * answered heartbeats until it noticed it was deposed, and a member's lease
 * runs from the last heartbeat answered.
 *
 * From that and the replicated state it decides what to expire: a member
 * unheard for its session timeout, one slower than its rebalance timeout to
 * release revoked partitions, a static member away longer than its session
 * timeout, and an empty group past its retention. Each decision is a command
 * the coordinator proposes (and proposes again after `retryMs` if it has not
 * been applied by then). Time is passed in; nothing here reads a clock.
 */
export interface LivenessOptions {
  /** Now, as this replica becomes the coordinator. */
  readonly sinceMs: number;
  readonly failoverGraceMs: number;
  /** An expiry proposed and not yet applied is proposed again after this long. */
  readonly retryMs: number;
  readonly emptyGroupRetentionMs: number;
}

export class Liveness {
  private readonly lastHeard = new Map<string, number>();
  private readonly proposedAtMs = new Map<string, number>();
  /** Nobody's lease ends before this: members heard by the previous coordinator start here. */
  private readonly floorMs: number;

  constructor(private readonly options: LivenessOptions) {
    this.floorMs = options.sinceMs + options.failoverGraceMs;
  }

  /** A heartbeat from the member was answered (with its view, not an error). */
  heard(group: string, memberId: string, nowMs: number): void {
    const key = memberKey(group, memberId);
    this.lastHeard.set(key, Math.max(nowMs, this.lastHeard.get(key) ?? 0));
    this.proposedAtMs.delete(key);
  }

  /** When this coordinator last answered the member (undefined: not since it took over). */
  heardAtMs(group: string, memberId: string): number | undefined {
    return this.lastHeard.get(memberKey(group, memberId));
  }

  /** The latest instant the member may still consume what it owns: its partitions are held until then when it is expired or replaced. */
  leaseEndMs(group: string, member: Member): number {
    return this.lastHeardMs(group, member) + member.sessionTimeoutMs;
  }

  /** The commands due at `nowMs`, each once per `retryMs`; forgets members and groups that are gone. */
  due(shard: GroupShard, nowMs: number): GroupCommand[] {
    const out: GroupCommand[] = [];
    const present = new Set<string>();
    for (const name of shard.names()) {
      const group = shard.group(name)!;
      present.add(memberKey(name, ''));
      if (group.members.size === 0 && group.emptySinceMs !== null && group.emptySinceMs + this.options.emptyGroupRetentionMs <= nowMs) {
        if (this.propose(memberKey(name, ''), nowMs)) out.push({ type: 'expireGroup', group: name, nowMs });
      }
      for (const member of group.members.values()) {
        const key = memberKey(name, member.memberId);
        present.add(key);
        const command = this.expiryOf(name, member, nowMs);
        if (command !== null && this.propose(key, nowMs)) out.push(command);
      }
    }
    for (const map of [this.lastHeard, this.proposedAtMs]) for (const key of [...map.keys()]) if (!present.has(key)) map.delete(key);
    return out;
  }

  private expiryOf(group: string, member: Member, nowMs: number): GroupCommand | null {
    const expire = (reason: 'session' | 'rebalance' | 'away', leaseEndMs: number): GroupCommand => ({ type: 'expire', group, nowMs, memberId: member.memberId, reason, leaseEndMs });
    if (member.awaySinceMs !== null) return member.awaySinceMs + member.sessionTimeoutMs <= nowMs ? expire('away', nowMs) : null;
    const leaseEndMs = this.leaseEndMs(group, member);
    if (leaseEndMs <= nowMs) return expire('session', leaseEndMs);
    if (member.revokingSinceMs !== null && member.revokingSinceMs + member.rebalanceTimeoutMs <= nowMs) return expire('rebalance', leaseEndMs);
    return null;
  }

  private lastHeardMs(group: string, member: Member): number {
    return Math.max(this.lastHeard.get(memberKey(group, member.memberId)) ?? 0, this.floorMs, member.joinedAtMs);
  }

  private propose(key: string, nowMs: number): boolean {
    const at = this.proposedAtMs.get(key);
    if (at !== undefined && nowMs < at + this.options.retryMs) return false;
    this.proposedAtMs.set(key, nowMs);
    return true;
  }
}

function memberKey(group: string, memberId: string): string {
  return `${group}\u0000${memberId}`;
}
