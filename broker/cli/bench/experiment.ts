import { median } from './latency.js';
import { rawRoles } from './raw-dgram.js';
import { runRoleProcess } from './roles.js';
import type { SkeinRun } from './skein-run.js';
import { skeinRoles } from './skein-run.js';

/** Every role a bench process can be started as; both bench entry points dispatch through here. */
export const benchRoles = { ...rawRoles, ...skeinRoles } as const;

/** When argv starts a role process (`--bench-role <name>`), runs it and returns its exit code; otherwise null. */
export async function runBenchRoleIfAsked(argv: readonly string[]): Promise<number | null> {
  if (argv[0] !== '--bench-role') return null;
  return runRoleProcess(argv[1] ?? '', benchRoles);
}

/** Retransmitted bytes per message byte sent: p/(1-p) is the least a protocol can resend at loss p. */
export function idealRetransmitRatio(lossRate: number): number {
  return lossRate >= 1 ? Number.POSITIVE_INFINITY : lossRate / (1 - lossRate);
}

/** The median run of a point by goodput, and sums of the correctness counters over all runs. */
export function summarizeRuns(runs: readonly SkeinRun[]): {
  medianMBps: number;
  retransmitRatio: number;
  duplicates: number;
  outOfOrder: number;
  corrupted: number;
  delivered: number;
  retransmittedBytes: number;
} {
  const retransmitRatios = runs.map((r) => (r.messageBytesSent > 0 ? r.retransmittedBytes / r.messageBytesSent : 0));
  const sum = (pick: (r: SkeinRun) => number): number => runs.reduce((total, r) => total + pick(r), 0);
  return {
    medianMBps: median(runs.map((r) => r.goodputMBps)),
    retransmitRatio: median(retransmitRatios),
    duplicates: sum((r) => r.duplicates),
    outOfOrder: sum((r) => r.outOfOrder),
    corrupted: sum((r) => r.corrupted),
    delivered: sum((r) => r.delivered),
    retransmittedBytes: sum((r) => r.retransmittedBytes),
  };
}

/** A message lost, repeated, reordered or damaged is a correctness failure, whatever the speed. */
export function deliveryFailures(runs: readonly SkeinRun[]): string[] {
  const failures: string[] = [];
  runs.forEach((r, i) => {
    if (r.duplicates > 0) failures.push(`run ${i + 1}: ${r.duplicates} duplicate deliveries`);
    if (r.outOfOrder > 0) failures.push(`run ${i + 1}: ${r.outOfOrder} out-of-order deliveries`);
    if (r.corrupted > 0) failures.push(`run ${i + 1}: ${r.corrupted} damaged messages`);
    if (r.delivered !== r.messagesSent) failures.push(`run ${i + 1}: ${r.messagesSent} messages sent but ${r.delivered} delivered`);
  });
  return failures;
}
