import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { idealRetransmitRatio } from '../../../broker/cli/bench/experiment.js';
import type { SkeinRun } from '../../../broker/cli/bench/skein-run.js';
import { lineChartSvg } from './chart.js';
import { goodputChart, toCsv, writeReportFiles, type TransportBenchReport } from './report.js';

describe('bench:transport report writers', () => {
  it('quotes CSV cells that need it', () => {
    expect(toCsv(['a', 'b'], [['x,y', 'say "hi"'], [1.5, Number.NaN]])).toBe('a,b\n"x,y","say ""hi"""\n1.5,\n');
  });

  it('draws one path per series and escapes labels', () => {
    const svg = lineChartSvg('t <1>', [
      { title: 'p', xLabel: 'x', yLabel: 'y', series: [{ label: 'a & b', points: [{ x: 0, y: 1 }, { x: 10, y: 0.5 }] }, { label: 'c', points: [{ x: 5, y: 2 }] }], marks: [{ y: 0.8, label: 'target' }] },
    ]);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg).toContain('t &lt;1&gt;');
    expect(svg).toContain('a &amp; b');
    expect(svg).not.toContain('NaN');
  });

  it('writes the CSVs, the JSON and the chart of a report', () => {
    const run = (goodputMBps: number): SkeinRun => ({
      goodputMBps,
      delivered: 10,
      deliveredBytes: 655_360,
      duplicates: 0,
      outOfOrder: 0,
      corrupted: 0,
      messagesSent: 10,
      messageBytesSent: 655_360,
      retransmittedBytes: 1000,
      packetsSent: 600,
      packetsLost: 3,
      secondsMeasured: 1,
      injectedDrops: 3,
      receiverKernelDrops: 0,
    });
    const point = (lossRate: number, mbps: number) => ({
      mode: 'fixed' as const,
      datagramBytes: 1200,
      lossRate,
      runs: [run(mbps)],
      medianMBps: mbps,
      ratio: lossRate === 0 ? 0.6 : mbps / 100,
      ratioTo: lossRate === 0 ? ('raw' as const) : ('lossless' as const),
      retransmitRatio: 0.01,
      idealRetransmitRatio: idealRetransmitRatio(lossRate),
      duplicates: 0,
      outOfOrder: 0,
      corrupted: 0,
    });
    const report: TransportBenchReport = {
      startedAt: '2026-01-01T00:00:00.000Z',
      node: 'v20',
      cpus: 2,
      runsPerPoint: 1,
      secondsPerRun: 1,
      messageBytes: 65_536,
      lossSide: 'both',
      raw: [{ datagramBytes: 1200, medianMBps: 160, runsMBps: [160], pacedAtMBps: 150, lossRate: 0 }],
      points: [point(0, 100), point(0.1, 85)],
      latency: [],
      targets: [],
    };
    const dir = mkdtempSync(join(tmpdir(), 'skein-bench-'));
    try {
      const files = writeReportFiles(report, dir);
      expect(files.map((f) => f.slice(dir.length + 1)).sort()).toEqual(['transport-goodput.svg', 'transport-points.csv', 'transport-report.json', 'transport-runs.csv']);
      expect(readFileSync(join(dir, 'transport-points.csv'), 'utf8')).toContain('skein-fixed,fixed,1200,0.1,85,0.85,lossless');
      expect(readFileSync(join(dir, 'transport-runs.csv'), 'utf8').trim().split('\n')).toHaveLength(3);
      expect(goodputChart(report).match(/<path /g)!.length).toBe(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
