/**
 * npm run bench:failover — how long writes stall after a fault, with real
 * broker processes: three brokers, a topic of 3 partitions with replication
 * 3, an idempotent producer writing with acks 'all' to every partition, and
 * one fault per run aimed at the leader of partition 0:
 *
 * - sigkill: SIGKILL, restarted 2 s later;
 * - graceful: SIGTERM (leaderships handed over), restarted 1 s later;
 * - pause: SIGSTOP for --pause-ms, then SIGCONT;
 * - quorum: it and another broker SIGKILLed at once, both restarted 3 s later
 *   (the stall counts from the first restart: no write can commit before);
 * - cutoff: its two followers SIGKILLed and restarted unable to reach it
 *   (a blackhole in their SKEIN_LOSS), so it is cut off from its peers but
 *   not from the client (the stall counts from the followers' return).
 *
 * The stall of a run is the longest time any partition went without an
 * acknowledgement after the fault, counted from when a majority was healthy.
 * Links: clean, and 10% loss on every process ('lossy'). Prints the median
 * and the longest per fault and link, one CSV line per run with --csv, and
 * progress on stderr.
 *
 *   npm run bench:failover -- [--runs 3] [--faults sigkill,graceful,pause,quorum,cutoff] [--links clean,lossy] [--pause-ms 5000] [--tick-ms 100] [--election-ticks 5] [--csv]
 */
import { parseArgs } from 'node:util';
import { defineTopic, serdes, Skein } from '../../sdk/index.js';
import { BrokerProcesses } from '../integration/support/processes.js';
import { bundleForChild } from '../support/bundle.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    faults: { type: 'string', default: 'sigkill,graceful,pause,quorum,cutoff' },
    links: { type: 'string', default: 'clean,lossy' },
    'pause-ms': { type: 'string', default: '5000' },
    // The broker's defaults.
    'tick-ms': { type: 'string', default: '100' },
    'election-ticks': { type: 'string', default: '5' },
    csv: { type: 'boolean', default: false },
  },
});
const faults = values.faults.split(',');
const links = values.links.split(',');
const runs = Number(values.runs);
const pauseMs = Number(values['pause-ms']);
const timing = { tickMs: Number(values['tick-ms']), electionTicks: Number(values['election-ticks']) };
const partitions = 3;
const topic = defineTopic<number>('failover', { value: serdes.cbor<number>() });

function progress(line: string): void {
  process.stderr.write(`[bench:failover] ${line}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes to every partition until stopped, keeping each acknowledgement's time per partition. */
function writeEverywhere(skein: Skein): { acks: number[][]; stop: () => Promise<void>; errors: unknown[] } {
  const producer = skein.producer({ acks: 'all', lingerMs: 1 });
  const acks: number[][] = Array.from({ length: partitions }, () => []);
  const errors: unknown[] = [];
  let writing = true;
  let next = 0;
  const loops = Array.from({ length: partitions }, async (_, partition) => {
    const inFlight = new Set<Promise<void>>();
    while (writing) {
      const sent = producer
        .send({ topic, messages: Array.from({ length: 5 }, () => ({ value: next++, partition })) })
        .then(
          () => void acks[partition]!.push(performance.now()),
          (error: unknown) => void errors.push(error),
        );
      inFlight.add(sent);
      void sent.then(() => inFlight.delete(sent));
      if (inFlight.size >= 4) await Promise.race(inFlight);
      await sleep(2);
    }
    await Promise.all(inFlight);
  });
  return {
    acks,
    errors,
    stop: async () => {
      writing = false;
      await Promise.all(loops);
      await producer.close();
    },
  };
}

/** The longest wait for an acknowledgement, over partitions, after `faultAt`, counted from `healthyFrom`. */
function longestStall(acks: number[][], faultAt: number, healthyFrom: number, endAt: number): number {
  let longest = 0;
  for (const times of acks) {
    let previous = times.filter((t) => t <= faultAt).at(-1) ?? faultAt;
    for (const t of [...times.filter((t) => t > faultAt), endAt]) {
      longest = Math.max(longest, t - Math.max(previous, healthyFrom));
      previous = t;
    }
  }
  return Math.round(longest);
}

async function leaderOf(skein: Skein, partition: number): Promise<number> {
  for (;;) {
    const leader = (await skein.admin().describeTopic('failover')).partitions[partition]?.leader;
    if (leader !== null && leader !== undefined) return leader;
    await sleep(50);
  }
}

/** Injects the fault on `victim`; resolves with when a majority is healthy again. */
async function inject(cluster: BrokerProcesses, fault: string, victim: number, lossEnv: Record<string, string>): Promise<number> {
  const others = [1, 2, 3].filter((id) => id !== victim);
  switch (fault) {
    case 'sigkill':
      await cluster.kill(victim);
      await sleep(2_000);
      await cluster.start(victim, lossEnv);
      return 0;
    case 'graceful':
      await cluster.stop(victim);
      await sleep(1_000);
      await cluster.start(victim, lossEnv);
      return 0;
    case 'pause':
      cluster.pause(victim);
      await sleep(pauseMs);
      cluster.resume(victim);
      return 0;
    case 'quorum': {
      await Promise.all([cluster.kill(victim), cluster.kill(others[0]!)]);
      await sleep(3_000);
      const back = await Promise.all([victim, others[0]!].map((id) => cluster.start(id, lossEnv).then(() => performance.now())));
      return Math.min(...back);
    }
    case 'cutoff': {
      await Promise.all(others.map((id) => cluster.kill(id)));
      const spec = [lossEnv.SKEIN_LOSS, `blackhole=${cluster.address(victim)}`].filter((s) => s !== undefined).join(',');
      await Promise.all(others.map((id) => cluster.start(id, { SKEIN_LOSS: spec })));
      return performance.now();
    }
    default:
      throw new Error(`unknown fault ${fault} (sigkill, graceful, pause, quorum, cutoff)`);
  }
}

async function runOnce(cli: string, fault: string, link: string, run: number): Promise<{ stallMs: number; errors: number }> {
  const spec = link === 'lossy' ? `loss=0.1,seed=${run + 1}` : undefined;
  const lossEnv: Record<string, string> = spec === undefined ? {} : { SKEIN_LOSS: spec };
  const cluster = new BrokerProcesses(cli, { size: 3, env: lossEnv, ...timing });
  let skein: Skein | undefined;
  try {
    await cluster.startAll();
    skein = new Skein({ brokers: cluster.bootstrap, clientId: 'bench-failover', ...(spec === undefined ? {} : { loss: spec }) });
    await skein.admin().createTopic({ name: 'failover', partitions, replicationFactor: 3 });
    const writer = writeEverywhere(skein);
    await sleep(3_000);
    const victim = await leaderOf(skein, 0);
    const faultAt = performance.now();
    const healthy = await inject(cluster, fault, victim, lossEnv);
    const healthyFrom = Math.max(faultAt, healthy);
    await sleep(6_000);
    const endAt = performance.now();
    await writer.stop();
    return { stallMs: longestStall(writer.acks, faultAt, healthyFrom, endAt), errors: writer.errors.length };
  } finally {
    await skein?.close().catch(() => {});
    await cluster.close();
  }
}

const cli = await bundleForChild('broker/cli/main.ts', 'cli-bench-failover');
const results = new Map<string, number[]>();
if (values.csv) console.log('fault,link,run,stall_ms,errors');
for (const link of links) {
  for (const fault of faults) {
    for (let run = 0; run < runs; run++) {
      const { stallMs, errors } = await runOnce(cli, fault, link, run);
      progress(`${fault} on ${link} links, run ${run + 1}/${runs}: longest stall ${stallMs} ms${errors > 0 ? `, ${errors} failed sends` : ''}`);
      if (values.csv) console.log([fault, link, run + 1, stallMs, errors].join(','));
      const key = `${fault}\t${link}`;
      results.set(key, [...(results.get(key) ?? []), stallMs]);
    }
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const lines = [...results].map(([key, stalls]) => {
  const [fault, link] = key.split('\t');
  return `${fault!.padEnd(10)} ${link!.padEnd(6)} median ${String(median(stalls)).padStart(6)} ms   longest ${String(Math.max(...stalls)).padStart(6)} ms   (${stalls.join(', ')})`;
});
const pauseNote = faults.includes('pause') ? `, pauses of ${pauseMs} ms` : '';
console.log(`longest stall per fault (ticks ${timing.tickMs} ms x ${timing.electionTicks}${pauseNote}):\n${lines.join('\n')}`);
