import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineChartSvg, type ChartSeries } from './chart.js';
import type { LatencySummary } from '../../../broker/cli/bench/latency.js';
import type { CongestionMode, SkeinRun } from '../../../broker/cli/bench/skein-run.js';

/** Everything one `bench:transport` run measured, in the shape of its JSON line. */
export interface TransportBenchReport {
  startedAt: string;
  node: string;
  cpus: number;
  runsPerPoint: number;
  secondsPerRun: number;
  messageBytes: number;
  lossSide: string;
  raw: { datagramBytes: number; medianMBps: number; runsMBps: number[]; pacedAtMBps: number; lossRate: number }[];
  points: GoodputPoint[];
  latency: { label: string; lossRate: number; summary: LatencySummary }[];
  targets: TargetCheck[];
}

export interface GoodputPoint {
  mode: CongestionMode;
  datagramBytes: number;
  lossRate: number;
  runs: SkeinRun[];
  medianMBps: number;
  /**
   * To raw dgram of the same datagram size (lossless points) or to the lossless skein point (lossy ones):
   * the median over repetitions of the ratio within each repetition.
   */
  ratio: number;
  ratioTo: 'raw' | 'lossless';
  retransmitRatio: number;
  idealRetransmitRatio: number;
  duplicates: number;
  outOfOrder: number;
  corrupted: number;
}

export interface TargetCheck {
  name: string;
  value: number;
  target: number;
  met: boolean;
}

export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function reportTables(report: TransportBenchReport): string {
  const sections: string[] = [];
  sections.push(
    'raw node:dgram (paced, receiver in its own process)\n' +
      formatTable(
        ['datagram', 'MB/s (median)', 'runs', 'paced at', 'lost'],
        report.raw.map((r) => [`${r.datagramBytes} B`, r.medianMBps.toFixed(1), r.runsMBps.map((x) => x.toFixed(0)).join('/'), r.pacedAtMBps.toFixed(1), pct(r.lossRate)]),
      ),
  );
  sections.push(
    `skein goodput (${report.messageBytes} B messages, loss on ${report.lossSide}, sender and receiver in separate processes)\n` +
      formatTable(
        ['mode', 'datagram', 'loss', 'MB/s (median)', 'runs', 'ratio (median)', 'retx/sent', 'ideal p/(1-p)', 'dup', 'ooo', 'bad', 'kernel drops'],
        report.points.map((p) => [
          p.mode,
          `${p.datagramBytes} B`,
          pct(p.lossRate),
          p.medianMBps.toFixed(1),
          p.runs.map((r) => r.goodputMBps.toFixed(0)).join('/'),
          `${p.ratio.toFixed(2)} of ${p.ratioTo}`,
          p.retransmitRatio.toFixed(3),
          p.idealRetransmitRatio.toFixed(3),
          String(p.duplicates),
          String(p.outOfOrder),
          String(p.corrupted),
          kernelDrops(p.runs),
        ]),
      ),
  );
  if (report.latency.length > 0) {
    sections.push(
      'round-trip latency, 64 B messages, one in flight\n' +
        formatTable(
          ['path', 'loss', 'count', 'p50 µs', 'p90 µs', 'p99 µs', 'max µs'],
          report.latency.map((l) => [
            l.label,
            pct(l.lossRate),
            String(l.summary.count),
            l.summary.p50Us.toFixed(0),
            l.summary.p90Us.toFixed(0),
            l.summary.p99Us.toFixed(0),
            l.summary.maxUs.toFixed(0),
          ]),
        ),
    );
  }
  sections.push(
    'targets\n' +
      formatTable(
        ['target', 'measured', 'wanted', 'met'],
        report.targets.map((t) => [t.name, t.value.toFixed(2), `>= ${t.target}`, t.met ? 'yes' : 'NO']),
      ),
  );
  return sections.join('\n\n');
}

/** Real losses at the receiver's socket over all runs of a point; '-' where the platform does not tell. */
function kernelDrops(runs: readonly SkeinRun[]): string {
  const known = runs.map((r) => r.receiverKernelDrops).filter((d): d is number => d !== null);
  return known.length === 0 ? '-' : String(known.reduce((a, b) => a + b, 0));
}

function pct(rate: number): string {
  return `${(rate * 100).toFixed(rate < 0.01 && rate > 0 ? 2 : 0)}%`;
}

export function toCsv(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cell = (value: string | number): string => {
    const text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : value;
    return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [header, ...rows].map((row) => row.map(cell).join(',')).join('\n') + '\n';
}

/** Writes the per-run CSV, the per-point CSV and the chart; returns the paths written. */
export function writeReportFiles(report: TransportBenchReport, directory: string): string[] {
  mkdirSync(directory, { recursive: true });
  const runsCsv = toCsv(
    ['mode', 'datagramBytes', 'lossRate', 'run', 'goodputMBps', 'messagesDelivered', 'messageBytesDelivered', 'duplicates', 'outOfOrder', 'corrupted', 'retransmittedBytes', 'packetsLost', 'packetsSent', 'receiverKernelDrops', 'secondsMeasured'],
    report.points.flatMap((p) =>
      p.runs.map((r, i) => [
        p.mode,
        p.datagramBytes,
        p.lossRate,
        i + 1,
        r.goodputMBps,
        r.delivered,
        r.deliveredBytes,
        r.duplicates,
        r.outOfOrder,
        r.corrupted,
        r.retransmittedBytes,
        r.packetsLost,
        r.packetsSent,
        r.receiverKernelDrops ?? '',
        r.secondsMeasured,
      ]),
    ),
  );
  const pointsCsv = toCsv(
    ['series', 'mode', 'datagramBytes', 'lossRate', 'medianGoodputMBps', 'ratio', 'ratioTo', 'retransmitRatio', 'idealRetransmitRatio'],
    [
      ...report.raw.map((r) => ['raw-dgram', '', r.datagramBytes, 0, r.medianMBps, 1, 'raw', 0, 0] as (string | number)[]),
      ...report.points.map((p) => [`skein-${p.mode}`, p.mode, p.datagramBytes, p.lossRate, p.medianMBps, p.ratio, p.ratioTo, p.retransmitRatio, p.idealRetransmitRatio]),
    ],
  );
  const files: [string, string][] = [
    ['transport-runs.csv', runsCsv],
    ['transport-points.csv', pointsCsv],
    ['transport-goodput.svg', goodputChart(report)],
    ['transport-report.json', JSON.stringify(report, null, 2) + '\n'],
  ];
  const written: string[] = [];
  for (const [name, text] of files) {
    const path = join(directory, name);
    writeFileSync(path, text);
    written.push(path);
  }
  return written;
}

export function goodputChart(report: TransportBenchReport): string {
  const seriesKeys = [...new Set(report.points.map((p) => `${p.mode}|${p.datagramBytes}`))];
  const absolute: ChartSeries[] = [];
  const relative: ChartSeries[] = [];
  for (const key of seriesKeys) {
    const [mode, size] = key.split('|');
    const label = `skein ${mode}, ${size} B datagrams`;
    const points = report.points.filter((p) => `${p.mode}|${p.datagramBytes}` === key).sort((a, b) => a.lossRate - b.lossRate);
    const lossless = points.find((p) => p.lossRate === 0)?.medianMBps;
    absolute.push({ label, points: points.map((p) => ({ x: p.lossRate * 100, y: p.medianMBps })) });
    // The same per-repetition ratios as the table, so chart and table never disagree.
    if (lossless !== undefined && lossless > 0) relative.push({ label, points: points.map((p) => ({ x: p.lossRate * 100, y: p.lossRate === 0 ? 1 : p.ratio })) });
  }
  for (const raw of report.raw) {
    absolute.push({ label: `raw dgram, ${raw.datagramBytes} B (lossless only)`, points: [{ x: 0, y: raw.medianMBps }] });
  }
  return lineChartSvg(
    'skein transport: goodput against Bernoulli loss',
    [
      { title: 'Goodput (median of runs)', xLabel: 'loss rate (%)', yLabel: 'MB/s', series: absolute },
      {
        title: 'Goodput relative to lossless',
        xLabel: 'loss rate (%)',
        yLabel: 'ratio to 0% loss',
        series: relative,
        targets: [
          { x: 5, y: 0.85, label: 'fixed ≥ 0.85' },
          { x: 10, y: 0.8, label: 'fixed ≥ 0.80' },
          { x: 30, y: 0.55, label: 'fixed ≥ 0.55' },
        ],
      },
    ],
    `${report.startedAt}, node ${report.node}, ${report.cpus} cpus, ${report.runsPerPoint} runs per point of ${report.secondsPerRun} s, ${report.messageBytes} B messages, loss on ${report.lossSide}`,
  );
}
