import { cpus } from 'node:os';
import { transportLimits } from '../../../transport/limits.js';
import { helpText, intFlag, listFlag, numberFlag, parseFlags, quote, stringFlag, choiceFlag, boolFlag, UsageError, type FlagSpecs } from '../../../broker/cli/args.js';
import { deliveryFailures, idealRetransmitRatio, runBenchRoleIfAsked, summarizeRuns } from '../../../broker/cli/bench/experiment.js';
import { median } from '../../../broker/cli/bench/latency.js';
import { measureRawLatency, measureRawPaced } from '../../../broker/cli/bench/raw-dgram.js';
import { currentLauncher, type RoleLauncher } from '../../../broker/cli/bench/roles.js';
import { measureSkein, measureSkeinLatency, type CongestionMode, type SkeinRun } from '../../../broker/cli/bench/skein-run.js';
import { Progress } from '../../../broker/cli/progress.js';
import { reportTables, writeReportFiles, type GoodputPoint, type TargetCheck, type TransportBenchReport } from './report.js';

const usage = 'npm run bench:transport -- [--runs N] [--seconds N] [--sizes 1200,8192] [--losses 0,0.01,0.05,0.1,0.2,0.3] [--modes fixed,newreno] [--quick] ...';

const about = `Raw node:dgram against skein connections in the same run (each side in its own
process), every point repeated --runs times and quoted as the median. Prints a
table and one JSON line; writes CSV, JSON and an SVG chart into --out.`;

const flags: FlagSpecs = {
  runs: { type: 'string', value: 'N', help: 'repetitions of every point; figures are medians', default: '3, 1 with --quick' },
  seconds: { type: 'string', value: 'N', help: 'sending time per run (decimals allowed)', default: '3, 1 with --quick' },
  sizes: { type: 'string', value: 'BYTES,...', help: 'datagram sizes', default: '1200,8192' },
  losses: { type: 'string', value: 'P,...', help: 'loss rates (0 is always measured: it anchors every ratio)', default: '0,0.01,0.05,0.1,0.2,0.3; 0,0.05,0.1,0.3 with --quick' },
  modes: { type: 'string', value: 'MODE,...', help: 'congestion control modes: fixed, newreno', default: 'fixed,newreno' },
  'message-bytes': { type: 'string', value: 'BYTES', help: 'size of each message', default: '65536' },
  'loss-side': { type: 'string', value: 'send|receive|both', help: 'where the loss model drops', default: 'both' },
  'latency-count': { type: 'string', value: 'N', help: 'round trips per latency point (0 skips them)', default: '2000, 300 with --quick' },
  out: { type: 'string', value: 'DIR', help: 'where the CSV, JSON and SVG files go', default: 'bench-results' },
  quick: { type: 'boolean', help: 'fewer points and shorter runs' },
};

interface SuiteOptions {
  runs: number;
  seconds: number;
  sizes: number[];
  losses: number[];
  modes: CongestionMode[];
  messageBytes: number;
  lossSide: 'send' | 'receive' | 'both';
  latencyCount: number;
  out: string;
}

function numberIn(flag: string, min: number, max: number, integer: boolean): (item: string) => number {
  return (item) => {
    const n = Number(item);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw new UsageError(`--${flag}: ${quote(item)} is not ${integer ? 'an integer' : 'a number'} in ${min}..${max}`);
    }
    return n;
  };
}

function parseSuiteFlags(argv: readonly string[]): SuiteOptions | 'help' {
  const parsed = parseFlags(argv, flags);
  if (boolFlag(parsed, 'help')) return 'help';
  const quick = boolFlag(parsed, 'quick');
  const losses = listFlag(parsed, 'losses', numberIn('losses', 0, 0.9, false), quick ? [0, 0.05, 0.1, 0.3] : [0, 0.01, 0.05, 0.1, 0.2, 0.3]);
  return {
    runs: intFlag(parsed, 'runs', { min: 1, max: 50 }) ?? (quick ? 1 : 3),
    seconds: numberFlag(parsed, 'seconds', { min: 0.2, max: 600 }) ?? (quick ? 1 : 3),
    sizes: listFlag(parsed, 'sizes', numberIn('sizes', transportLimits.datagramBytesMin, transportLimits.datagramBytesMax, true), [1200, 8192]),
    // The lossless point anchors every ratio, so it is always measured.
    losses: [...new Set([0, ...losses])].sort((a, b) => a - b),
    modes: listFlag(
      parsed,
      'modes',
      (item) => {
        if (item !== 'fixed' && item !== 'newreno') throw new UsageError(`--modes: ${quote(item)} is not fixed or newreno`);
        return item;
      },
      ['fixed', 'newreno'] as CongestionMode[],
    ),
    messageBytes: intFlag(parsed, 'message-bytes', { min: 8, max: transportLimits.messageBytesDefault }) ?? 65_536,
    lossSide: choiceFlag(parsed, 'loss-side', ['send', 'receive', 'both'] as const, 'both'),
    latencyCount: intFlag(parsed, 'latency-count', { min: 0, max: 1_000_000 }) ?? (quick ? 300 : 2000),
    out: stringFlag(parsed, 'out') ?? 'bench-results',
  };
}

/** `npm run bench:transport`: the whole experiment. Returns the exit code (1 on any delivery failure, 2 on bad flags). */
export async function runTransportBenchSuite(argv: string[]): Promise<number> {
  let options: SuiteOptions | 'help';
  try {
    const roleExit = await runBenchRoleIfAsked(argv);
    if (roleExit !== null) return roleExit;
    options = parseSuiteFlags(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench:transport: ${error.message}\nRun "npm run bench:transport -- --help" for usage.\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(helpText(usage, about, flags));
    return 0;
  }
  const startedAt = new Date().toISOString();
  const measured = await measureAll(currentLauncher(argv), options);
  const report = buildReport(options, measured, startedAt);
  process.stdout.write(`${reportTables(report)}\n\n`);
  const files = writeReportFiles(report, options.out);
  process.stdout.write(`wrote ${files.join(', ')}\n`);
  const failures = measured.pointKeys.flatMap((key) => deliveryFailures(measured.skeinRuns.get(keyOf(key))!).map((f) => `${keyOf(key)} ${f}`));
  for (const failure of failures) process.stderr.write(`bench:transport: DELIVERY FAILURE ${failure}\n`);
  process.stdout.write(`${JSON.stringify(compactReport(report))}\n`);
  return failures.length > 0 ? 1 : 0;
}

interface PointKey {
  mode: CongestionMode;
  datagramBytes: number;
  lossRate: number;
}

interface Measured {
  pointKeys: PointKey[];
  rawRuns: Map<number, number[]>;
  rawLoss: Map<number, number[]>;
  rawPaces: Map<number, number[]>;
  skeinRuns: Map<string, SkeinRun[]>;
  latency: TransportBenchReport['latency'];
}

/** Every measurement of the run, with one progress line (redrawn on a terminal) and a kept line per result. */
async function measureAll(launcher: RoleLauncher, o: SuiteOptions): Promise<Measured> {
  const pointKeys = o.modes.flatMap((mode) => o.sizes.flatMap((datagramBytes) => o.losses.map((lossRate) => ({ mode, datagramBytes, lossRate }))));
  const totalSteps = o.runs * (o.sizes.length + pointKeys.length);
  let step = 0;
  const progress = Progress.start({ label: 'bench:transport', total: totalSteps, unit: 'measurements', sample: () => ({ done: step }), plain: 'quiet', plainPrefix: '[bench] ' });
  const m: Measured = {
    pointKeys,
    rawRuns: new Map(o.sizes.map((s) => [s, []])),
    rawLoss: new Map(o.sizes.map((s) => [s, []])),
    rawPaces: new Map(o.sizes.map((s) => [s, []])),
    skeinRuns: new Map(pointKeys.map((k) => [keyOf(k), []])),
    latency: [],
  };
  const status = (text: string): void => progress.status(text);
  try {
    // Repetition-major order: noise from other load on the machine spreads over raw and skein alike.
    for (let run = 1; run <= o.runs; run++) {
      for (const size of o.sizes) {
        // The pace is found again in every repetition: one found in a noisy moment would cap the baseline for the whole run.
        const raw = await measureRawPaced(launcher, { datagramBytes: size, seconds: o.seconds, onProgress: status });
        m.rawRuns.get(size)!.push(raw.receivedMBps);
        m.rawLoss.get(size)!.push(raw.lossRate);
        m.rawPaces.get(size)!.push(raw.rateBytesPerSecond / 1e6);
        progress.log(`[bench] [${++step}/${totalSteps}] run ${run}: raw dgram ${size} B: ${raw.receivedMBps.toFixed(1)} MB/s (${(raw.lossRate * 100).toFixed(2)}% lost)`);
      }
      for (const key of pointKeys) {
        progress.phase(`run ${run}: skein ${key.mode} ${key.datagramBytes} B at ${(key.lossRate * 100).toFixed(0)}% loss`);
        const result = await measureSkein(launcher, { ...key, messageBytes: o.messageBytes, seconds: o.seconds, lossSide: o.lossSide, seed: run });
        m.skeinRuns.get(keyOf(key))!.push(result);
        progress.log(
          `[bench] [${++step}/${totalSteps}] run ${run}: skein ${key.mode} ${key.datagramBytes} B at ${(key.lossRate * 100).toFixed(0)}% loss: ` +
            `${result.goodputMBps.toFixed(1)} MB/s, retransmitted ${(result.retransmittedBytes / Math.max(result.messageBytesSent, 1)).toFixed(3)} of sent` +
            (deliveryFailures([result]).length > 0 ? ` — ${deliveryFailures([result]).join('; ')}` : ''),
        );
      }
    }
    if (o.latencyCount > 0) {
      status(`round-trip latency: raw dgram, ${o.latencyCount} pings`);
      m.latency.push({ label: 'raw dgram', lossRate: 0, summary: await measureRawLatency(launcher, { messageBytes: 64, count: o.latencyCount }) });
      for (const lossRate of [0, 0.05]) {
        status(`round-trip latency: skein at ${lossRate * 100}% loss, ${o.latencyCount} pings`);
        const summary = await measureSkeinLatency(launcher, { messageBytes: 64, count: o.latencyCount, lossRate, lossSide: o.lossSide, seed: 1 });
        m.latency.push({ label: 'skein', lossRate, summary });
      }
    }
  } finally {
    progress.stop();
  }
  return m;
}

function buildReport(o: SuiteOptions, m: Measured, startedAt: string): TransportBenchReport {
  const raw = o.sizes.map((size) => ({
    datagramBytes: size,
    medianMBps: median(m.rawRuns.get(size)!),
    runsMBps: m.rawRuns.get(size)!,
    pacedAtMBps: median(m.rawPaces.get(size)!),
    lossRate: median(m.rawLoss.get(size)!),
  }));
  const points: GoodputPoint[] = m.pointKeys.map((key) => {
    const runs = m.skeinRuns.get(keyOf(key))!;
    const summary = summarizeRuns(runs);
    // The reference of each repetition was measured minutes apart at most, so a noisy stretch of
    // the machine hits both: the ratio is the median of per-repetition ratios, not a ratio of medians.
    const references = key.lossRate === 0 ? m.rawRuns.get(key.datagramBytes)! : m.skeinRuns.get(keyOf({ ...key, lossRate: 0 }))!.map((r) => r.goodputMBps);
    return {
      ...key,
      runs,
      medianMBps: summary.medianMBps,
      ratio: median(runs.map((r, i) => r.goodputMBps / references[i]!)),
      ratioTo: key.lossRate === 0 ? 'raw' : 'lossless',
      retransmitRatio: summary.retransmitRatio,
      idealRetransmitRatio: idealRetransmitRatio(key.lossRate),
      duplicates: summary.duplicates,
      outOfOrder: summary.outOfOrder,
      corrupted: summary.corrupted,
    };
  });
  return {
    startedAt,
    node: process.version,
    cpus: cpus().length,
    runsPerPoint: o.runs,
    secondsPerRun: o.seconds,
    messageBytes: o.messageBytes,
    lossSide: o.lossSide,
    raw,
    points,
    latency: m.latency,
    targets: targetChecks(points),
  };
}

function keyOf(key: { mode: string; datagramBytes: number; lossRate: number }): string {
  return `${key.mode}/${key.datagramBytes}/${key.lossRate}`;
}

/** The targets, for every measured point they apply to. */
function targetChecks(points: readonly GoodputPoint[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const p of points) {
    if (p.lossRate === 0) checks.push(check(`${p.mode} ${p.datagramBytes} B lossless / raw dgram`, p.ratio, 0.5));
    const lossTargets: Record<string, number> = { '0.05': 0.85, '0.1': 0.8, '0.3': 0.55 };
    const target = lossTargets[String(p.lossRate)];
    if (p.mode === 'fixed' && target !== undefined) checks.push(check(`fixed ${p.datagramBytes} B at ${p.lossRate * 100}% loss / lossless`, p.ratio, target));
  }
  return checks;
}

function check(name: string, value: number, target: number): TargetCheck {
  return { name, value, target, met: value >= target };
}

/** The report without per-run detail, for the one-line JSON summary. */
function compactReport(report: TransportBenchReport): unknown {
  return {
    bench: 'transport',
    ...report,
    points: report.points.map(({ runs, ...point }) => ({ ...point, runsMBps: runs.map((r) => Math.round(r.goodputMBps * 10) / 10) })),
  };
}
