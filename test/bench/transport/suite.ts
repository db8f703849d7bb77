import { cpus } from 'node:os';
import { SkeinError } from '../../../transport/errors.js';
import { transportLimits } from '../../../transport/limits.js';
import { deliveryFailures, idealRetransmitRatio, progress, runBenchRoleIfAsked, summarizeRuns } from '../../../broker/cli/bench/experiment.js';
import { parseFlags, type FlagSpec } from '../../../broker/cli/bench/flags.js';
import { median } from '../../../broker/cli/bench/latency.js';
import { measureRawLatency, measureRawPaced } from '../../../broker/cli/bench/raw-dgram.js';
import { reportTables, writeReportFiles, type GoodputPoint, type TargetCheck, type TransportBenchReport } from './report.js';
import { currentLauncher } from '../../../broker/cli/bench/roles.js';
import { measureSkein, measureSkeinLatency, type CongestionMode, type SkeinRun } from '../../../broker/cli/bench/skein-run.js';

export const transportSuiteUsage = `usage: npm run bench:transport -- [--runs N] [--seconds N] [--sizes 1200,8192] [--losses 0,0.01,0.05,0.1,0.2,0.3]
                                [--modes fixed,newreno] [--message-bytes B] [--loss-side both] [--latency-count N]
                                [--out bench-results] [--quick]

Raw node:dgram against skein connections in the same run (each side in its own
process), every point repeated --runs times and quoted as the median. Prints a
table and one JSON line; writes CSV, JSON and an SVG chart into --out.`;

const flagSpecs: Record<string, FlagSpec> = {
  runs: { kind: 'number', min: 1, max: 50, integer: true },
  seconds: { kind: 'number', min: 0.2, max: 600 },
  sizes: { kind: 'string' },
  losses: { kind: 'string' },
  modes: { kind: 'string' },
  'message-bytes': { kind: 'number', min: 8, max: transportLimits.messageBytesDefault, integer: true },
  'loss-side': { kind: 'choice', choices: ['send', 'receive', 'both'] },
  'latency-count': { kind: 'number', min: 0, max: 1_000_000, integer: true },
  out: { kind: 'string' },
  quick: { kind: 'boolean' },
  help: { kind: 'boolean' },
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

function list<T>(flag: string, text: string | undefined, fallback: T[], parse: (item: string) => T): T[] {
  if (text === undefined) return fallback;
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new SkeinError('INVALID_ARGUMENT', { message: `--${flag} is a comma-separated list` });
  return items.map(parse);
}

function parseSuiteFlags(argv: readonly string[]): SuiteOptions | 'help' {
  const values = parseFlags(argv, flagSpecs);
  if (values.help === true) return 'help';
  const quick = values.quick === true;
  const numberIn = (flag: string, min: number, max: number, integer: boolean) => (item: string) => {
    const n = Number(item);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw new SkeinError('INVALID_ARGUMENT', { message: `--${flag}: ${JSON.stringify(item)} is not ${integer ? 'an integer' : 'a number'} in ${min}..${max}` });
    }
    return n;
  };
  const losses = list('losses', values.losses as string | undefined, quick ? [0, 0.05, 0.1, 0.3] : [0, 0.01, 0.05, 0.1, 0.2, 0.3], numberIn('losses', 0, 0.9, false));
  return {
    runs: (values.runs as number | undefined) ?? (quick ? 1 : 3),
    seconds: (values.seconds as number | undefined) ?? (quick ? 1 : 3),
    sizes: list('sizes', values.sizes as string | undefined, [1200, 8192], numberIn('sizes', transportLimits.datagramBytesMin, transportLimits.datagramBytesMax, true)),
    // The lossless point anchors every ratio, so it is always measured.
    losses: [...new Set([0, ...losses])].sort((a, b) => a - b),
    modes: list('modes', values.modes as string | undefined, ['fixed', 'newreno'] as CongestionMode[], (item) => {
      if (item !== 'fixed' && item !== 'newreno') throw new SkeinError('INVALID_ARGUMENT', { message: `--modes: ${JSON.stringify(item)} is not fixed or newreno` });
      return item;
    }),
    messageBytes: (values['message-bytes'] as number | undefined) ?? 65_536,
    lossSide: (values['loss-side'] as SuiteOptions['lossSide'] | undefined) ?? 'both',
    latencyCount: (values['latency-count'] as number | undefined) ?? (quick ? 300 : 2000),
    out: (values.out as string | undefined) ?? 'bench-results',
  };
}

/** `npm run bench:transport`: the whole experiment. Returns the exit code (1 on any delivery failure, 2 on bad flags). */
export async function runTransportBenchSuite(argv: string[]): Promise<number> {
  const roleExit = await runBenchRoleIfAsked(argv);
  if (roleExit !== null) return roleExit;
  let options: SuiteOptions | 'help';
  try {
    options = parseSuiteFlags(argv);
  } catch (error) {
    if (error instanceof SkeinError && error.code === 'INVALID_ARGUMENT') {
      process.stderr.write(`bench:transport: ${error.message}\n\n${transportSuiteUsage}\n`);
      return 2;
    }
    throw error;
  }
  if (options === 'help') {
    process.stdout.write(`${transportSuiteUsage}\n`);
    return 0;
  }
  const o = options;
  const launcher = currentLauncher(argv);
  const startedAt = new Date().toISOString();
  const pointKeys = o.modes.flatMap((mode) => o.sizes.flatMap((datagramBytes) => o.losses.map((lossRate) => ({ mode, datagramBytes, lossRate }))));
  const totalSteps = o.runs * (o.sizes.length + pointKeys.length);
  let step = 0;

  const rawRuns = new Map<number, number[]>(o.sizes.map((s) => [s, []]));
  const rawLoss = new Map<number, number[]>(o.sizes.map((s) => [s, []]));
  const rawPaces = new Map<number, number[]>(o.sizes.map((s) => [s, []]));
  const skeinRuns = new Map<string, SkeinRun[]>(pointKeys.map((k) => [keyOf(k), []]));

  // Repetition-major order: noise from other load on the machine spreads over raw and skein alike.
  for (let run = 1; run <= o.runs; run++) {
    for (const size of o.sizes) {
      // The pace is found again in every repetition: one found in a noisy moment would cap the baseline for the whole run.
      const raw = await measureRawPaced(launcher, { datagramBytes: size, seconds: o.seconds, onProgress: progress });
      rawRuns.get(size)!.push(raw.receivedMBps);
      rawLoss.get(size)!.push(raw.lossRate);
      rawPaces.get(size)!.push(raw.rateBytesPerSecond / 1e6);
      progress(`[${++step}/${totalSteps}] run ${run}: raw dgram ${size} B: ${raw.receivedMBps.toFixed(1)} MB/s (${(raw.lossRate * 100).toFixed(2)}% lost)`);
    }
    for (const key of pointKeys) {
      const result = await measureSkein(launcher, {
        ...key,
        messageBytes: o.messageBytes,
        seconds: o.seconds,
        lossSide: o.lossSide,
        seed: run,
      });
      skeinRuns.get(keyOf(key))!.push(result);
      progress(
        `[${++step}/${totalSteps}] run ${run}: skein ${key.mode} ${key.datagramBytes} B at ${(key.lossRate * 100).toFixed(0)}% loss: ` +
          `${result.goodputMBps.toFixed(1)} MB/s, retransmitted ${(result.retransmittedBytes / Math.max(result.messageBytesSent, 1)).toFixed(3)} of sent` +
          (deliveryFailures([result]).length > 0 ? ` — ${deliveryFailures([result]).join('; ')}` : ''),
      );
    }
  }

  const latency: TransportBenchReport['latency'] = [];
  if (o.latencyCount > 0) {
    progress(`round-trip latency: raw dgram, ${o.latencyCount} pings`);
    latency.push({ label: 'raw dgram', lossRate: 0, summary: await measureRawLatency(launcher, { messageBytes: 64, count: o.latencyCount }) });
    for (const lossRate of [0, 0.05]) {
      progress(`round-trip latency: skein at ${lossRate * 100}% loss, ${o.latencyCount} pings`);
      const summary = await measureSkeinLatency(launcher, { messageBytes: 64, count: o.latencyCount, lossRate, lossSide: o.lossSide, seed: 1 });
      latency.push({ label: 'skein', lossRate, summary });
    }
  }

  const raw = o.sizes.map((size) => ({
    datagramBytes: size,
    medianMBps: median(rawRuns.get(size)!),
    runsMBps: rawRuns.get(size)!,
    pacedAtMBps: median(rawPaces.get(size)!),
    lossRate: median(rawLoss.get(size)!),
  }));
  const points: GoodputPoint[] = pointKeys.map((key) => {
    const runs = skeinRuns.get(keyOf(key))!;
    const summary = summarizeRuns(runs);
    // The reference of each repetition was measured minutes apart at most, so a noisy stretch of
    // the machine hits both: the ratio is the median of per-repetition ratios, not a ratio of medians.
    const references = key.lossRate === 0 ? rawRuns.get(key.datagramBytes)! : skeinRuns.get(keyOf({ ...key, lossRate: 0 }))!.map((r) => r.goodputMBps);
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
  const report: TransportBenchReport = {
    startedAt,
    node: process.version,
    cpus: cpus().length,
    runsPerPoint: o.runs,
    secondsPerRun: o.seconds,
    messageBytes: o.messageBytes,
    lossSide: o.lossSide,
    raw,
    points,
    latency,
    targets: targetChecks(points),
  };
  process.stdout.write(`${reportTables(report)}\n\n`);
  const files = writeReportFiles(report, o.out);
  process.stdout.write(`wrote ${files.join(', ')}\n`);
  const failures = pointKeys.flatMap((key) => deliveryFailures(skeinRuns.get(keyOf(key))!).map((f) => `${keyOf(key)} ${f}`));
  for (const failure of failures) process.stderr.write(`bench:transport: DELIVERY FAILURE ${failure}\n`);
  process.stdout.write(`${JSON.stringify(compactReport(report))}\n`);
  return failures.length > 0 ? 1 : 0;
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
