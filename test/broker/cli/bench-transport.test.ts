import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseTransportBenchFlags, runTransportBenchCommand } from '../../../broker/cli/bench/transport-command.js';
import { lineChartSvg } from '../../bench/transport/chart.js';
import { idealRetransmitRatio } from '../../../broker/cli/bench/experiment.js';
import { median, percentile } from '../../../broker/cli/bench/latency.js';
import { goodputChart, toCsv, writeReportFiles, type TransportBenchReport } from '../../bench/transport/report.js';
import type { SkeinRun } from '../../../broker/cli/bench/skein-run.js';

describe('skein bench transport flags', () => {
  it('has defaults and reads every flag in both spellings', () => {
    expect(parseTransportBenchFlags([])).toEqual({
      lossRate: 0,
      datagramBytes: 1200,
      mode: 'fixed',
      seconds: 3,
      runs: 1,
      messageBytes: 65_536,
      lossSide: 'both',
      seed: 1,
      json: false,
      help: false,
    });
    expect(
      parseTransportBenchFlags(['--loss', '0.1', '--size=8192', '--mode', 'newreno', '--seconds', '1.5', '--runs=3', '--message-bytes', '1000', '--loss-side', 'send', '--seed', '9', '--json']),
    ).toEqual({ lossRate: 0.1, datagramBytes: 8192, mode: 'newreno', seconds: 1.5, runs: 3, messageBytes: 1000, lossSide: 'send', seed: 9, json: true, help: false });
  });

  it('rejects bad flags naming them', () => {
    const bad: [string[], RegExp][] = [
      [['--lose', '0.1'], /unknown flag --lose/],
      [['--loss'], /--loss needs a value/],
      [['--loss', '--json'], /--loss needs a value/],
      [['--loss', '1.5'], /--loss must be between 0 and 0.9/],
      [['--loss', 'ten'], /--loss must be a number/],
      [['--loss', ''], /--loss must be a number/],
      [['--size', '100'], /--size must be between 1200 and 65507/],
      [['--size', '1500.5'], /--size must be a whole number/],
      [['--mode', 'cubic'], /--mode must be one of fixed, newreno/],
      [['--seconds', '0'], /--seconds must be between/],
      [['--runs', '2.5'], /--runs must be a whole number/],
      [['--loss-side', 'up'], /--loss-side must be one of/],
      [['--json=yes'], /--json takes no value/],
      [['--json', '--json'], /--json is given more than once/],
      [['0.1'], /unexpected argument "0.1"/],
    ];
    for (const [argv, message] of bad) {
      expect(() => parseTransportBenchFlags(argv), argv.join(' ')).toThrow(message);
      expect(() => parseTransportBenchFlags(argv)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });

  describe('the command', () => {
    afterEach(() => {
      vi.restoreAllMocks();
    });

    it('exits with code 2 and a clear message on bad flags, before measuring anything', async () => {
      const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      expect(await runTransportBenchCommand(['--loss', '2'])).toBe(2);
      const written = stderr.mock.calls.map((c) => String(c[0])).join('');
      expect(written).toContain('skein bench transport: --loss must be between 0 and 0.9, got 2');
      expect(written).toContain('usage: skein bench transport');
    });

    it('prints its usage on --help', async () => {
      const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
      expect(await runTransportBenchCommand(['--help'])).toBe(0);
      expect(stdout.mock.calls.map((c) => String(c[0])).join('')).toContain('--mode MODE');
    });

    it('refuses to run as a role without a parent process', async () => {
      const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      expect(await runTransportBenchCommand(['--bench-role', 'skein-sender'])).toBe(2);
      expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toContain('--bench-role is internal');
    });
  });
});

describe('bench arithmetic and writers', () => {
  it('computes medians, percentiles and the ideal retransmission ratio', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99)).toBe(10);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50)).toBe(5);
    expect(Number.isNaN(percentile([], 50))).toBe(true);
    expect(idealRetransmitRatio(0)).toBe(0);
    expect(idealRetransmitRatio(0.2)).toBeCloseTo(0.25, 12);
  });

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
