import { transportLimits } from '../../../transport/limits.js';
import { boolFlag, choiceFlag, helpText, intFlag, numberFlag, parseFlags, type FlagSpecs } from '../args.js';
import { Progress } from '../progress.js';
import { deliveryFailures, idealRetransmitRatio, runBenchRoleIfAsked, summarizeRuns } from './experiment.js';
import { median } from './latency.js';
import { measureRawPaced } from './raw-dgram.js';
import { currentLauncher, type RoleLauncher } from './roles.js';
import { measureSkein, type CongestionMode, type SkeinRun } from './skein-run.js';

const usage = 'skein bench transport [--loss P] [--size BYTES] [--mode fixed|newreno] [--seconds N] [--runs N] [--json]';

const about = `Measures, in one run, raw node:dgram (paced, same datagram size) and one skein
connection through a seeded Bernoulli loss model, sender and receiver in
separate processes on loopback. With --json prints one JSON object.`;

const lossSides = ['send', 'receive', 'both'] as const;
const modes = ['fixed', 'newreno'] as const;

export const transportBenchFlags: FlagSpecs = {
  loss: { type: 'string', value: 'P', help: "loss probability 0..0.9 applied by the sender's loss model", default: '0' },
  size: { type: 'string', value: 'BYTES', help: `datagram size, ${transportLimits.datagramBytesMin}..${transportLimits.datagramBytesMax}`, default: String(transportLimits.datagramBytesDefault) },
  mode: { type: 'string', value: modes.join('|'), help: 'congestion control: fixed (loss is not congestion) or newreno', default: 'fixed' },
  seconds: { type: 'string', value: 'N', help: 'sending time per run (decimals allowed)', default: '3' },
  runs: { type: 'string', value: 'N', help: 'repetitions; figures are medians', default: '1' },
  'message-bytes': { type: 'string', value: 'BYTES', help: 'size of each message', default: '65536' },
  'loss-side': { type: 'string', value: lossSides.join('|'), help: 'where the loss model drops: send (data only), receive (acks only), both', default: 'both' },
  seed: { type: 'string', value: 'N', help: 'seed of the loss model', default: '1' },
  json: { type: 'boolean', help: 'print one JSON object instead of a summary' },
};

export interface TransportBenchOptions {
  lossRate: number;
  datagramBytes: number;
  mode: CongestionMode;
  seconds: number;
  runs: number;
  messageBytes: number;
  lossSide: (typeof lossSides)[number];
  seed: number;
  json: boolean;
  help: boolean;
}

/** Parses the command's flags; throws a UsageError naming the bad flag. */
export function parseTransportBenchFlags(argv: readonly string[]): TransportBenchOptions {
  const parsed = parseFlags(argv, transportBenchFlags);
  return {
    lossRate: numberFlag(parsed, 'loss', { min: 0, max: 0.9 }) ?? 0,
    datagramBytes: intFlag(parsed, 'size', { min: transportLimits.datagramBytesMin, max: transportLimits.datagramBytesMax }) ?? transportLimits.datagramBytesDefault,
    mode: choiceFlag(parsed, 'mode', modes, 'fixed'),
    seconds: numberFlag(parsed, 'seconds', { min: 0.2, max: 600 }) ?? 3,
    runs: intFlag(parsed, 'runs', { min: 1, max: 50 }) ?? 1,
    messageBytes: intFlag(parsed, 'message-bytes', { min: 8, max: transportLimits.messageBytesDefault }) ?? 65_536,
    lossSide: choiceFlag(parsed, 'loss-side', lossSides, 'both'),
    seed: intFlag(parsed, 'seed', { min: 0, max: 0xffff_ffff }) ?? 1,
    json: boolFlag(parsed, 'json'),
    help: boolFlag(parsed, 'help'),
  };
}

/**
 * `skein bench transport ...`: returns the exit code (0 done, 1 a delivery
 * failure — a duplicate, a gap, a damaged or missing message); bad flags
 * throw a UsageError (exit code 2). Started again with `--bench-role` it runs
 * one side of the experiment.
 */
export async function runTransportBenchCommand(argv: string[]): Promise<number> {
  const roleExit = await runBenchRoleIfAsked(argv);
  if (roleExit !== null) return roleExit;
  const options = parseTransportBenchFlags(argv);
  if (options.help) {
    process.stdout.write(helpText(usage, about, transportBenchFlags));
    return 0;
  }
  const { rawRuns, runs } = await measureRuns(currentLauncher(argv), options);
  const summary = summarizeRuns(runs);
  const rawMBps = median(rawRuns);
  const result = {
    goodputMBps: round(summary.medianMBps),
    rawMBps: round(rawMBps),
    ratio: round(summary.medianMBps / rawMBps, 3),
    delivered: summary.delivered,
    duplicates: summary.duplicates,
    outOfOrder: summary.outOfOrder,
    corrupted: summary.corrupted,
    retransmittedBytes: summary.retransmittedBytes,
    retransmitRatio: round(summary.retransmitRatio, 4),
    idealRetransmitRatio: round(idealRetransmitRatio(options.lossRate), 4),
    messagesSent: runs.reduce((total, r) => total + r.messagesSent, 0),
    lossRate: options.lossRate,
    lossSide: options.lossSide,
    datagramBytes: options.datagramBytes,
    messageBytes: options.messageBytes,
    mode: options.mode,
    runs: options.runs,
    seconds: options.seconds,
  };
  if (options.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    process.stdout.write(
      `skein ${options.mode}, ${options.datagramBytes} B datagrams, ${(options.lossRate * 100).toFixed(1)}% loss on ${options.lossSide}: ` +
        `${result.goodputMBps} MB/s goodput, raw dgram ${result.rawMBps} MB/s, ratio ${result.ratio}\n` +
        `delivered ${result.delivered} messages (duplicates ${result.duplicates}, out of order ${result.outOfOrder}, damaged ${result.corrupted}); ` +
        `retransmitted ${result.retransmitRatio} of sent bytes (ideal ${result.idealRetransmitRatio})\n`,
    );
  }
  const failures = deliveryFailures(runs);
  for (const failure of failures) process.stderr.write(`skein bench transport: DELIVERY FAILURE ${failure}\n`);
  return failures.length > 0 ? 1 : 0;
}

/** Every run: raw dgram paced, then one skein connection; one progress line, and a kept line per result. */
async function measureRuns(launcher: RoleLauncher, options: TransportBenchOptions): Promise<{ rawRuns: number[]; runs: SkeinRun[] }> {
  let measured = 0;
  const progress = Progress.start({ label: 'transport', total: options.runs * 2, unit: 'measurements', sample: () => ({ done: measured }), plain: 'quiet', plainPrefix: '[bench] ' });
  const rawRuns: number[] = [];
  const runs: SkeinRun[] = [];
  try {
    for (let run = 1; run <= options.runs; run++) {
      progress.status(`run ${run}/${options.runs}: raw node:dgram, ${options.datagramBytes} B datagrams, paced just under what the receiver takes in`);
      const raw = await measureRawPaced(launcher, { datagramBytes: options.datagramBytes, seconds: options.seconds, onProgress: (text) => progress.status(text) });
      rawRuns.push(raw.receivedMBps);
      measured++;
      progress.log(`[bench] run ${run}/${options.runs}: raw ${raw.receivedMBps.toFixed(1)} MB/s (${(raw.lossRate * 100).toFixed(2)}% lost)`);
      progress.phase(`run ${run}/${options.runs}: skein ${options.mode} at ${(options.lossRate * 100).toFixed(1)}% loss`);
      const { datagramBytes, messageBytes, seconds, mode, lossRate, lossSide } = options;
      const skein = await measureSkein(launcher, { datagramBytes, messageBytes, seconds, mode, lossRate, lossSide, seed: options.seed + run - 1 });
      runs.push(skein);
      measured++;
      progress.log(
        `[bench] run ${run}/${options.runs}: skein ${options.mode} at ${(options.lossRate * 100).toFixed(1)}% loss: ${skein.goodputMBps.toFixed(1)} MB/s, ` +
          `${skein.delivered} messages, ${skein.retransmittedBytes} bytes retransmitted`,
      );
    }
  } finally {
    progress.stop();
  }
  return { rawRuns, runs };
}

function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
