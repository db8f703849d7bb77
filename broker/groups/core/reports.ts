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
 * Dead-letter and skip counts are the member's own, counted since it joined;
 * the coordinator adds what each report grew by to the partition's total, so
 * a partition's count outlives the member that held it (for as long as this
 * coordinator leads). Bounded by the shard: reports only of its members and
 * partitions, forgotten with them (`sweep`). Time is passed in.
 */
interface Report {
  readonly atMs: number;
  readonly progress: readonly MemberProgress[];
}

interface Counts {
  deadLettered: number;
  skipped: number;
}

export class MemberReports {
  private readonly reports = new Map<string, Report>();
  private readonly counts = new Map<string, Map<string, Counts & { topic: string; partition: number }>>();

  /** Takes a member's report, answered with its view (so it is a member); keeps only partitions it holds. */
  report(group: string, memberId: string, progress: readonly MemberProgress[], holds: ReadonlySet<string>, nowMs: number): void {
    const key = memberKey(group, memberId);
    const kept = progress.filter((p) => holds.has(partitionKey(p.topic, p.partition)));
    const before = new Map((this.reports.get(key)?.progress ?? []).map((p) => [partitionKey(p.topic, p.partition), p]));
    let totals = this.counts.get(group);
    for (const p of kept) {
      const pk = partitionKey(p.topic, p.partition);
      const previous = before.get(pk);
      const deadLettered = Math.max(0, p.deadLettered - (previous?.deadLettered ?? 0));
      const skipped = Math.max(0, p.skipped - (previous?.skipped ?? 0));
      if (deadLettered === 0 && skipped === 0) continue;
      if (totals === undefined) this.counts.set(group, (totals = new Map()));
      const total = totals.get(pk) ?? { topic: p.topic, partition: p.partition, deadLettered: 0, skipped: 0 };
      total.deadLettered += deadLettered;
      total.skipped += skipped;
      totals.set(pk, total);
    }
    // A partition missing from a report starts afresh in a later one: the member counts it from zero again (new progress when regiven).
    this.reports.set(key, { atMs: nowMs, progress: kept });
  }

  /** The member's last report, its idle times counted to `nowMs`. */
  progressOf(group: string, memberId: string, nowMs: number): MemberProgress[] {
    const report = this.reports.get(memberKey(group, memberId));
    if (report === undefined) return [];
    const sinceMs = Math.max(0, nowMs - report.atMs);
    return report.progress.map((p) => ({ ...p, idleMs: p.idleMs + sinceMs }));
  }

  /** Dead-lettered and skipped records per partition of the group, sorted. */
  countsOf(group: string): { topic: string; partition: number; deadLettered: number; skipped: number }[] {
    return [...(this.counts.get(group)?.values() ?? [])].map((c) => ({ ...c })).sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
  }

  /** Forgets members, and counts of partitions, the shard no longer has. */
  sweep(shard: GroupShard): void {
    for (const key of [...this.reports.keys()]) {
      const [group, memberId] = key.split('\u0000') as [string, string];
      if (shard.group(group)?.members.has(memberId) !== true) this.reports.delete(key);
    }
    for (const [group, totals] of [...this.counts]) {
      const known = shard.group(group);
      if (known === undefined) {
        this.counts.delete(group);
        continue;
      }
      for (const [pk, c] of [...totals]) if (!known.topics.has(c.topic)) totals.delete(pk);
    }
  }
}

function memberKey(group: string, memberId: string): string {
  return `${group}\u0000${memberId}`;
}
