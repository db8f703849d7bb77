import { SkeinError } from '../../../transport/errors.js';
import { transportLimits } from '../../../transport/limits.js';
import { deliveryFailures, idealRetransmitRatio, progress, runBenchRoleIfAsked, summarizeRuns } from './experiment.js';
import { parseFlags, type FlagSpec } from './flags.js';
import { median } from './latency.js';
import { measureRawPaced } from './raw-dgram.js';
import { currentLauncher } from './roles.js';
import { measureSkein, type CongestionMode, type SkeinRun } from './skein-run.js';

export const transportBenchUsage = `usage: skein bench transport [--loss P] [--size BYTES] [--mode fixed|newreno] [--seconds N] [--runs N]
                             [--message-bytes BYTES] [--loss-side send|receive|both] [--seed N] [--json]

Measures, in one run, raw node:dgram (paced, same datagram size) and one skein
connection through a seeded Bernoulli loss model, sender and receiver in
separate processes on loopback. With --json prints one JSON object.

  --loss P           loss probability 0..0.9 applied by the sender's loss model (default 0)
  --size BYTES       datagram size, ${transportLimits.datagramBytesMin}..${transportLimits.datagramBytesMax} (default ${transportLimits.datagramBytesDefault})
  --mode MODE        congestion control: fixed (loss is not congestion) or newreno (default fixed)
  --seconds N        sending time per run (default 3)
  --runs N           repetitions; figures are medians (default 1)
  --message-bytes B  size of each message (default 65536)
  --loss-side SIDE   where the loss model drops: send (data only), receive (acks only), both (default both)
  --seed N           seed of the loss model (default 1)
  --json             print one JSON object instead of a summary`;

const flagSpecs: Record<string, FlagSpec> = {
  loss: { kind: 'number', min: 0, max: 0.9 },
  size: { kind: 'number', min: transportLimits.datagramBytesMin, max: transportLimits.datagramBytesMax, integer: true },
  mode: { kind: 'choice', choices: ['fixed', 'newreno'] },
  seconds: { kind: 'number', min: 0.2, max: 600 },
  runs: { kind: 'number', min: 1, max: 50, integer: true },
  'message-bytes': { kind: 'number', min: 8, max: transportLimits.messageBytesDefault, integer: true },
  'loss-side': { kind: 'choice', choices: ['send', 'receive', 'both'] },
  seed: { kind: 'number', min: 0, max: 0xffff_ffff, integer: true },
  json: { kind: 'boolean' },
  help: { kind: 'boolean' },
};

export interface TransportBenchOptions {
  lossRate: number;
  datagramBytes: number;
  mode: CongestionMode;
  seconds: number;
  runs: number;
  messageBytes: number;
  lossSide: 'send' | 'receive' | 'both';
  seed: number;
  json: boolean;
  help: boolean;
}

/** Parses the command's flags; throws INVALID_ARGUMENT naming the bad flag. */
export function parseTransportBenchFlags(argv: readonly string[]): TransportBenchOptions {
  const values = parseFlags(argv, flagSpecs);
  return {
    lossRate: (values.loss as number | undefined) ?? 0,
    datagramBytes: (values.size as number | undefined) ?? transportLimits.datagramBytesDefault,
    mode: (values.mode as CongestionMode | undefined) ?? 'fixed',
    seconds: (values.seconds as number | undefined) ?? 3,
    runs: (values.runs as number | undefined) ?? 1,
    messageBytes: (values['message-bytes'] as number | undefined) ?? 65_536,
    lossSide: (values['loss-side'] as TransportBenchOptions['lossSide'] | undefined) ?? 'both',
    seed: (values.seed as number | undefined) ?? 1,
    json: values.json === true,
    help: values.help === true,
  };
}

/**
 * `skein bench transport ...`: returns the exit code (0 done, 1 a delivery
 * failure — a duplicate, a gap, a damaged or missing message — 2 bad flags).
 * Started again with `--bench-role` it runs one side of the experiment.
 */
export async function runTransportBenchCommand(argv: string[]): Promise<number> {
  const roleExit = await runBenchRoleIfAsked(argv);
  if (roleExit !== null) return roleExit;
  let options: TransportBenchOptions;
  try {
    options = parseTransportBenchFlags(argv);
  } catch (error) {
    if (error instanceof SkeinError && error.code === 'INVALID_ARGUMENT') {
      process.stderr.write(`skein bench transport: ${error.message}\n\n${transportBenchUsage}\n`);
      return 2;
    }
    throw error;
  }
  if (options.help) {
    process.stdout.write(`${transportBenchUsage}\n`);
    return 0;
  }
  const launcher = currentLauncher(argv);

  const rawRuns: number[] = [];
  const runs: SkeinRun[] = [];
  for (let run = 1; run <= options.runs; run++) {
    progress(`run ${run}/${options.runs}: raw node:dgram, ${options.datagramBytes} B datagrams, paced just under what the receiver takes in`);
    const raw = await measureRawPaced(launcher, { datagramBytes: options.datagramBytes, seconds: options.seconds, onProgress: progress });
    rawRuns.push(raw.receivedMBps);
    progress(`run ${run}/${options.runs}: raw ${raw.receivedMBps.toFixed(1)} MB/s (${(raw.lossRate * 100).toFixed(2)}% lost)`);
    const skein = await measureSkein(launcher, {
      datagramBytes: options.datagramBytes,
      messageBytes: options.messageBytes,
      seconds: options.seconds,
      mode: options.mode,
      lossRate: options.lossRate,
      lossSide: options.lossSide,
      seed: options.seed + run - 1,
    });
    runs.push(skein);
    progress(
      `run ${run}/${options.runs}: skein ${options.mode} at ${(options.lossRate * 100).toFixed(1)}% loss: ${skein.goodputMBps.toFixed(1)} MB/s, ` +
        `${skein.delivered} messages, ${skein.retransmittedBytes} bytes retransmitted`,
    );
  }
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

function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
