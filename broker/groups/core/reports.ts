import type { MemberProgress } from '../../../transport/protocol/groups.js';
import { partitionKey } from './partitions.js';
import type { GroupShard } from './shard.js';

/**
 * What members say about their consumption in their heartbeats: per
 * partition they hold, how far they fetched and finished, how long their
 * finished offset has not moved, and how many records they dead-lettered or
 * skipped. Soft state of the coordinator, like Liveness: never logged (a
 * report changes no ownership and no offset), so a new coordinator knows
 * nothing until each member's next heartbeat, a heartbeat interval later.
 *
 * The dead-letter and skip counts in a report are the member's own (shown
 * with its progress); the group's totals are durable, committed with the
 * offsets (see DeadLetterCounts). Bounded by the shard: reports only of its
 * members and partitions, forgotten with them (`sweep`). Time is passed in.
 */
interface Report {
  readonly atMs: number;
  readonly progress: readonly MemberProgress[];
}

export class MemberReports {
  private readonly reports = new Map<string, Report>();

  /** Takes a member's report, answered with its view (so it is a member); keeps only partitions it holds. */
  report(group: string, memberId: string, progress: readonly MemberProgress[], holds: ReadonlySet<string>, nowMs: number): void {
    const key = memberKey(group, memberId);
    const kept = progress.filter((p) => holds.has(partitionKey(p.topic, p.partition)));
    this.reports.set(key, { atMs: nowMs, progress: kept });
  }

  /** The member's last report, its idle times counted to `nowMs`. */
  progressOf(group: string, memberId: string, nowMs: number): MemberProgress[] {
    const report = this.reports.get(memberKey(group, memberId));
    if (report === undefined) return [];
    const sinceMs = Math.max(0, nowMs - report.atMs);
    return report.progress.map((p) => ({ ...p, idleMs: p.idleMs + sinceMs }));
  }

  /** Forgets members the shard no longer has. */
  sweep(shard: GroupShard): void {
    for (const key of [...this.reports.keys()]) {
      const [group, memberId] = key.split('\u0000') as [string, string];
      if (shard.group(group)?.members.has(memberId) !== true) this.reports.delete(key);
    }
  }
}

function memberKey(group: string, memberId: string): string {
  return `${group}\u0000${memberId}`;
}
