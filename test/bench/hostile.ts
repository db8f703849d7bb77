/**
 * npm run bench:hostile — the attacks of issue 11 at full size against a real
 * broker process, while a normal client produces one record every 20 ms
 * (acks 'all'). Per attack: the broker's resident memory before and at its
 * peak, the normal client's produce latency (p50/p99/max) and failures while
 * the attack runs, and whether the broker survived. Heavier than anything CI
 * runs (test/broker/hostile-*.test.ts run small versions of each attack).
 *
 *   npm run bench:hostile -- [--attacks none,frame,maps,flood,halfopen,partial,fetches,pushes,crowd] [--seconds 10] [--warmup-seconds 0] [--rounds 1] [--cli bundle.mjs]
 *
 * --warmup-seconds lets an attack run that long before the normal client's
 * latencies count ('crowd', hundreds of connections from several addresses,
 * takes a while to fill the broker's budgets).
 *
 * --cli runs another build of the broker (a bundle of broker/cli/main.ts), to
 * measure before and after a change in the same run of this script. 'none'
 * is the baseline: the normal client alone; with it, each attack's median
 * p99 over --rounds is also given as a ratio of the baseline's. The broker's
 * CPU time and its socket's kernel drops during the attack say where the
 * normal client's latency comes from (a busy broker, or its datagrams lost
 * in a full socket buffer).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Skein } from '../../sdk/index.js';
import { kernelReceiveDrops } from '../../transport/kernel-drops.js';
import { bundleForChild } from '../support/bundle.js';
import { BrokerProcesses } from '../integration/support/processes.js';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { NormalProducer, type ProduceFigures, type Target } from '../broker/support/hostile-clients.js';

/** The attacks test/bench/hostile-attacker.ts knows. */
const attackNames = ['none', 'frame', 'maps', 'flood', 'halfopen', 'partial', 'fetches', 'pushes', 'crowd'];

const { values } = parseArgs({
  options: {
    attacks: { type: 'string', default: 'frame,maps,flood,halfopen,partial,fetches,pushes,crowd' },
    seconds: { type: 'string', default: '10' },
    'warmup-seconds': { type: 'string', default: '0' },
    rounds: { type: 'string', default: '1' },
    cli: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const cli = values.cli ?? (await bundleForChild('broker/cli/main.ts', 'cli-hostile'));
const attacker = await bundleForChild('test/bench/hostile-attacker.ts', 'hostile-attacker');

/** Starts `name` in an attacker process; resolves once it is under way, with its note and how to stop it. */
async function startAttack(name: string, target: Target): Promise<{ note: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [attacker, name, target.host, String(target.port), String(seconds)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    child.stdin.end();
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  };
  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([
    new Promise<string | null>((resolve) => lines.once('line', resolve)),
    exited.then(() => null),
    sleep(120_000).then(() => null),
  ]);
  if (first === null) {
    await stop();
    return { note: 'attack did not get under way within 120 s', stop: async () => {} };
  }
  return { note: (JSON.parse(first) as { note: string }).note, stop };
}

function progress(line: string): void {
  process.stderr.write(`[bench:hostile] ${line}\n`);
}

function rssMiB(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? NaN : Number(match[1]) / 1024;
  } catch {
    return NaN;
  }
}

/** CPU time (user + system) the process has used, in ms. */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

interface Outcome {
  attack: string;
  rssBeforeMiB: number;
  rssPeakMiB: number;
  /** The broker's CPU use during the attack (1 = one core), and datagrams the kernel dropped at its socket. */
  cpuCores: number;
  kernelDrops: number;
  produce: ProduceFigures;
  alive: boolean;
  note: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function fillData(client: Skein): Promise<void> {
  const producer = client.producer({ acks: 'all', batchBytesMax: 1024 * 1024 });
  const value = Buffer.alloc(1000, 7);
  for (let i = 0; i < 10; i++) await producer.send({ topic: 'data', messages: Array.from({ length: 1000 }, () => ({ value })) });
  await producer.close();
}

async function runAttack(name: string): Promise<Outcome> {
  const cluster = new BrokerProcesses(cli, { size: 1, tickMs: 50 });
  await cluster.startAll();
  const pid = cluster.children.get(1)!.pid!;
  const target = { host: '127.0.0.1', port: cluster.ports[0]! };
  const admin = new Skein({ brokers: cluster.bootstrap, clientId: 'bench-admin' });
  let peakMiB = 0;
  const sampler = setInterval(() => (peakMiB = Math.max(peakMiB, rssMiB(pid) || 0)), 50);
  const normal = new NormalProducer(cluster.bootstrap, 'normal');
  try {
    await admin.admin().createTopic({ name: 'normal', partitions: 1, replicationFactor: 1 });
    await admin.admin().createTopic({ name: 'data', partitions: 1, replicationFactor: 1 });
    if (name === 'fetches' || name === 'pushes' || name === 'crowd') await fillData(admin);
    normal.start();
    await sleep(3_000);
    const rssBeforeMiB = rssMiB(pid);
    peakMiB = rssBeforeMiB;
    normal.mark();
    const cpuBeforeMs = cpuMs(pid);
    const dropsBefore = kernelReceiveDrops(target.port, 'udp4') ?? NaN;
    const startedMs = performance.now();
    progress(`${name}: attacking (broker at ${rssBeforeMiB.toFixed(0)} MiB)`);
    const attack = await startAttack(name, target);
    await sleep(Number(values['warmup-seconds']) * 1000);
    normal.mark();
    await sleep(seconds * 1000);
    const produce = normal.figures();
    const cpuCores = (cpuMs(pid) - cpuBeforeMs) / (performance.now() - startedMs);
    const kernelDrops = (kernelReceiveDrops(target.port, 'udp4') ?? NaN) - dropsBefore;
    const alive = cluster.children.get(1)?.exitCode === null;
    await attack.stop().catch(() => {});
    progress(
      `${name}: ${attack.note}; RSS ${rssBeforeMiB.toFixed(0)} -> ${peakMiB.toFixed(0)} MiB; produce p99 ${produce.p99Ms.toFixed(1)} ms, ${produce.failed} failed of ${produce.sent}; CPU ${cpuCores.toFixed(2)} cores, ${kernelDrops} kernel drops; ${alive ? 'alive' : 'DEAD'}`,
    );
    return { attack: name, rssBeforeMiB, rssPeakMiB: peakMiB, cpuCores, kernelDrops, produce, alive, note: attack.note };
  } finally {
    clearInterval(sampler);
    await normal.stop().catch(() => undefined);
    await admin.close().catch(() => {});
    const log = cluster.logs.get(1) ?? [];
    const heapDeath = log.find((line) => line.includes('heap out of memory'));
    if (heapDeath !== undefined) progress(`${name}: ${heapDeath}`);
    await cluster.close();
  }
}

const outcomes: Outcome[] = [];
const names = values.attacks.split(',').filter((a) => a !== '');
for (const name of names) {
  if (!attackNames.includes(name)) throw new Error(`unknown attack ${name}; known: ${attackNames.join(', ')}`);
}
// Rounds interleave the attacks, so a machine that gets busier meanwhile weighs on each alike.
for (let round = 0; round < Number(values.rounds); round++) {
  for (const name of names) outcomes.push(await runAttack(name));
}
const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length % 2 === 1 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
};
const baselineP99 = names.includes('none') ? median(outcomes.filter((o) => o.attack === 'none').map((o) => o.produce.p99Ms)) : NaN;
console.log('| attack | rounds | broker RSS before → peak (median) | normal produce p50 / p99 / max (medians) | p99 / baseline | broker CPU, kernel drops | failed / sent | broker |');
console.log('|---|---|---|---|---|---|---|---|');
for (const name of names) {
  const runs = outcomes.filter((o) => o.attack === name);
  const m = (f: (o: Outcome) => number): number => median(runs.map(f));
  const p99 = m((o) => o.produce.p99Ms);
  console.log(
    `| ${name}: ${runs[0]!.note} | ${runs.length} | ${m((o) => o.rssBeforeMiB).toFixed(0)} → ${m((o) => o.rssPeakMiB).toFixed(0)} MiB | ${m((o) => o.produce.p50Ms).toFixed(1)} / ${p99.toFixed(1)} / ${m((o) => o.produce.maxMs).toFixed(0)} ms | ${(p99 / baselineP99).toFixed(2)}x | ${m((o) => o.cpuCores).toFixed(2)} cores, ${m((o) => o.kernelDrops)} | ${runs.reduce((n, o) => n + o.produce.failed, 0)} / ${runs.reduce((n, o) => n + o.produce.sent, 0)} | ${runs.every((o) => o.alive) ? 'alive' : 'dead'} |`,
  );
}
console.log(JSON.stringify(outcomes));
process.exit(0);
