import type { Stint } from './group-member.js';

/**
 * What a consumer group promises, checked from the members' own logs and
 * the coordinator's state after a simulated run:
 * - no two stints of one partition overlap in time (at most one owner at any
 *   instant; a stint ends at its lease end at the latest);
 * - within a stint, records come in offset order with no gap;
 * - a stint starts at or above every offset the group acknowledged for its
 *   partition before it began (no acknowledged commit lost), and at or below
 *   one past the highest offset processed before (a commit never runs ahead
 *   of what was finished: nothing skipped);
 * - every acknowledged record was processed at least once, at the partition
 *   and offset it was acknowledged with;
 * - records are processed again only after a stint that ended without its
 *   final commit: a crash, a lost lease, a failure (never after a revocation
 *   or a close, which commit before they release).
 * Returns the violations (empty when all hold) and the duplicates, by how
 * the stint before them ended.
 */
export interface GroupCheck {
  violations: string[];
  duplicates: number;
  /** Records processed again, by how the stint before ended (a crash, a lost lease...). */
  duplicatesAfter: Record<string, number>;
  processed: number;
  stints: number;
}

export function checkGroupRun(input: {
  stints: readonly Stint[];
  commits: ReadonlyArray<{ partition: number; offset: number; atMs: number }>;
  acked: ReadonlyMap<number, { partition: number; offset: number }>;
}): GroupCheck {
  const violations: string[] = [];
  const duplicatesAfter: Record<string, number> = {};
  const byPartition = new Map<number, Stint[]>();
  for (const stint of input.stints) byPartition.set(stint.partition, [...(byPartition.get(stint.partition) ?? []), stint]);
  for (const [partition, stints] of byPartition) {
    stints.sort((a, b) => a.startMs - b.startMs);
    violations.push(...overlaps(partition, stints), ...gaps(partition, stints, input.commits.filter((c) => c.partition === partition), duplicatesAfter));
  }
  let processed = 0;
  const seen = new Set<number>();
  for (const stint of input.stints) {
    for (const record of stint.processed) {
      processed++;
      seen.add(record.value);
      const at = input.acked.get(record.value);
      if (at === undefined || at.partition !== stint.partition || at.offset !== record.offset) {
        violations.push(`${stint.member} processed value ${record.value} at ${stint.partition}/${record.offset}; it was acknowledged at ${at === undefined ? 'no offset' : `${at.partition}/${at.offset}`}`);
      }
    }
  }
  const missing = [...input.acked.keys()].filter((value) => !seen.has(value));
  if (missing.length > 0) violations.push(`${missing.length} acknowledged records never processed, e.g. ${missing.slice(0, 5).map((v) => `${v}@${input.acked.get(v)!.partition}/${input.acked.get(v)!.offset}`).join(' ')}`);
  return { violations, duplicates: processed - seen.size, duplicatesAfter, processed, stints: input.stints.length };
}

function describe(stint: Stint): string {
  return `${stint.member} (member ${stint.memberId.slice(0, 6)} epoch ${stint.epoch}) ${stint.startMs.toFixed(1)}–${stint.endMs === null ? 'open' : stint.endMs.toFixed(1)} ms`;
}

function overlaps(partition: number, stints: readonly Stint[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < stints.length; i++) {
    for (let j = i + 1; j < stints.length; j++) {
      const a = stints[i]!;
      const b = stints[j]!;
      if (b.startMs >= (a.endMs ?? Infinity)) continue;
      out.push(`partition ${partition} had two owners: ${describe(a)} and ${describe(b)}`);
    }
  }
  return out;
}

/** How a stint may end without committing what it finished last. */
const uncommittedEnds = new Set(['crashed', 'lost', 'failed']);

function gaps(partition: number, stints: readonly Stint[], commits: ReadonlyArray<{ offset: number; atMs: number }>, duplicatesAfter: Record<string, number>): string[] {
  const out: string[] = [];
  let processedTop = 0;
  let previous: Stint | null = null;
  for (const stint of stints) {
    const records = stint.processed;
    for (let k = 1; k < records.length; k++) {
      if (records[k]!.offset !== records[k - 1]!.offset + 1) out.push(`partition ${partition}: ${describe(stint)} went from offset ${records[k - 1]!.offset} to ${records[k]!.offset}`);
    }
    if (records.length === 0) continue;
    const first = records[0]!.offset;
    const acked = Math.max(0, ...commits.filter((c) => c.atMs < stint.startMs).map((c) => c.offset));
    if (first < acked) out.push(`partition ${partition}: ${describe(stint)} started at ${first}, below the offset ${acked} committed and acknowledged before it began`);
    if (first > processedTop) out.push(`partition ${partition}: ${describe(stint)} started at ${first}, but nothing processed it from ${processedTop}`);
    if (first < processedTop && previous !== null) {
      const reason = (previous.endReason ?? 'open').replace(/ \(.*$/, '');
      duplicatesAfter[reason] = (duplicatesAfter[reason] ?? 0) + processedTop - first;
      if (!uncommittedEnds.has(reason)) out.push(`partition ${partition}: ${describe(stint)} processed again from ${first} to ${processedTop} after ${describe(previous)} ended (${previous.endReason}), which commits before it releases`);
    }
    previous = stint;
    processedTop = Math.max(processedTop, records[records.length - 1]!.offset + 1);
  }
  return out;
}
