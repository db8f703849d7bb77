export interface LatencySummary {
  count: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
}

/** Samples kept per recorder; the bench takes a few thousand round trips per point. */
const samplesMax = 1_000_000;

/**
 * Round-trip times in microseconds with exact percentiles. A sorted array
 * rather than an HDR histogram: the sample count is bounded and small, and
 * the `skein` command that ships this code must not need a dev dependency.
 */
export class LatencyRecorder {
  private readonly samples: number[] = [];

  record(microseconds: number): void {
    if (this.samples.length < samplesMax) this.samples.push(microseconds);
  }

  summary(): LatencySummary {
    const sorted = [...this.samples].sort((a, b) => a - b);
    return {
      count: sorted.length,
      p50Us: percentile(sorted, 50),
      p90Us: percentile(sorted, 90),
      p99Us: percentile(sorted, 99),
      maxUs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!,
    };
  }
}

/** Nearest-rank percentile of sorted values; NaN when there are none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}
