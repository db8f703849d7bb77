/**
 * npm run bench:cluster — skein against NATS JetStream on this machine, in one run.
 *
 * Three skein broker processes (replication 3, acks 'all') and, when
 * nats-server and the peer harness in ../shared/peers are present, a
 * three-node JetStream cluster with an R3 file stream. Same record size, same
 * count, same fixed rate for latency. Skein runs twice per round: with fsync
 * before every acknowledgement (its default, stricter than the peer), and
 * with JetStream's durability (a quorum holds the record in the page cache;
 * fsync on a timer), so the comparison is like for like. Prints a table of
 * medians and the ratios skein / JetStream, then one JSON line.
 *
 * The latency runs discard their first --warmup seconds, the same for both
 * systems: a fresh Node process spends its first seconds compiling (the
 * brokers' CPU at 5,000 msgs/s falls from ~40% to ~25% once it has), and the
 * figure is meant to be the steady state a long-running cluster shows.
 *
 *   npm run bench:cluster -- [--runs 3] [--messages 200000] [--size 100] [--rate 5000] [--seconds 20] [--warmup 8] [--flush always,interval:1000]
 */
import { execFile, spawnSync } from 'node:child_process';
import { cpSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { BrokerProcesses } from '../integration/support/processes.js';
import { median } from '../../broker/cli/bench/latency.js';
import { bundleForChild } from '../support/bundle.js';
import { projectRoot } from '../support/root.js';

const run = promisify(execFile);
const root = projectRoot();
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    messages: { type: 'string', default: '200000' },
    size: { type: 'string', default: '100' },
    rate: { type: 'string', default: '5000' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '8' },
    flush: { type: 'string', default: 'always,interval:1000' },
    'skip-nats': { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const messages = Number(values.messages);
const size = Number(values.size);
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const flushes = values.flush.split(',').filter((f) => f !== '');

function progress(line: string): void {
  process.stderr.write(`[bench:cluster] ${line}\n`);
}

function lastJson(stdout: string, prefix = ''): Record<string, number> {
  const line = stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith(`${prefix}{`));
  if (line === undefined) throw new Error(`no result line in:\n${stdout}`);
  return JSON.parse(line.slice(prefix.length)) as Record<string, number>;
}

interface Figures {
  produceMsgsPerSec: number;
  produceMBps: number;
  consumeMsgsPerSec: number;
  e2eP50Ms: number;
  e2eP99Ms: number;
}

async function skeinRun(cli: string, index: number, flush: string): Promise<Figures> {
  const cluster = new BrokerProcesses(cli, { size: 3, tickMs: 100, electionTicks: 10 });
  await cluster.startAll();
  try {
    const brokers = cluster.bootstrap.join(',');
    const bench = async (kind: string, extra: string[]): Promise<Record<string, number>> => {
      const { stdout } = await run(process.execPath, [cli, 'bench', kind, '--brokers', brokers, '--topic', `bench${index}`, '--flush', flush, '--size', String(size), '--json', ...extra], { maxBuffer: 1 << 24, timeout: 300_000 });
      return lastJson(stdout);
    };
    const produce = await bench('produce', ['--messages', String(messages), '--replication', '3', '--partitions', '3']);
    progress(`skein (${flush}) run ${index}: produce ${Math.round(produce.msgsPerSec!)} msgs/s`);
    const consume = await bench('consume', ['--messages', String(messages)]);
    progress(`skein (${flush}) run ${index}: consume ${Math.round(consume.msgsPerSec!)} msgs/s`);
    const e2e = await bench('e2e', ['--rate', String(rate), '--seconds', String(seconds), '--warmup', String(warmup), '--messages', String(rate * seconds)]);
    progress(`skein (${flush}) run ${index}: e2e at ${rate}/s p50 ${e2e.p50Ms} ms p99 ${e2e.p99Ms} ms`);
    return { produceMsgsPerSec: produce.msgsPerSec!, produceMBps: produce.MBps!, consumeMsgsPerSec: consume.msgsPerSec!, e2eP50Ms: e2e.p50Ms!, e2eP99Ms: e2e.p99Ms! };
  } finally {
    await cluster.close();
  }
}

/** The peer harness needs its own node_modules; ../shared is read-only, so it runs from a copy. */
function natsHarness(): string | null {
  if (values['skip-nats']) return null;
  const source = resolve(root, '../shared/peers');
  if (!existsSync(join(source, 'nats/js-pub.mjs'))) return null;
  if (spawnSync('nats-server', ['--version']).status !== 0) {
    progress('nats-server is not installed (apt-get install -y nats-server): skipping the JetStream baseline');
    return null;
  }
  const copy = join(tmpdir(), 'skein-peers');
  // The scripts are copied every run (a copy left by an older checkout could lack a flag); packages only once.
  cpSync(source, copy, { recursive: true, filter: (path) => !path.includes('node_modules') });
  if (!existsSync(join(copy, 'node_modules/nats'))) {
    const install = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: copy, stdio: 'inherit' });
    if (install.status !== 0) return null;
  }
  return copy;
}

async function natsRun(harness: string, index: number): Promise<Figures> {
  const env = { ...process.env, RUN_DIR: join(tmpdir(), 'skein-peers-run') };
  await run('bash', ['nats/start.sh', 'cluster'], { cwd: harness, env });
  try {
    await run(process.execPath, ['nats/wait.mjs', '--servers', '127.0.0.1:4231', '--replicas', '3'], { cwd: harness, env, timeout: 60_000 }).catch(() => {});
    const node = async (script: string, args: string[]): Promise<Record<string, number>> => {
      const { stdout } = await run(process.execPath, [script, ...args], { cwd: harness, env, maxBuffer: 1 << 24, timeout: 300_000 });
      return lastJson(stdout, 'RESULT ');
    };
    const pub = await node('nats/js-pub.mjs', ['--servers', '127.0.0.1:4231', '--replicas', '3', '--count', String(messages), '--size', String(size), '--window', '1000']);
    progress(`JetStream run ${index}: publish ${pub.msgsPerSec} msgs/s`);
    const consume = await node('nats/js-consume.mjs', ['--servers', '127.0.0.1:4231', '--replicas', '3', '--mode', 'consume', '--count', String(messages), '--size', String(size)]);
    progress(`JetStream run ${index}: consume ${consume.msgsPerSec} msgs/s`);
    const latency = await node('nats/js-latency.mjs', ['--servers', '127.0.0.1:4231', '--sub-servers', '127.0.0.1:4232', '--replicas', '3', '--rate', String(rate), '--seconds', String(seconds), '--warmup', String(warmup)]);
    progress(`JetStream run ${index}: e2e p50 ${latency.e2eP50us} µs p99 ${latency.e2eP99us} µs`);
    return {
      produceMsgsPerSec: pub.msgsPerSec!,
      produceMBps: pub.MBps!,
      consumeMsgsPerSec: consume.msgsPerSec!,
      e2eP50Ms: latency.e2eP50us! / 1000,
      e2eP99Ms: latency.e2eP99us! / 1000,
    };
  } finally {
    await run('bash', ['nats/stop.sh'], { cwd: harness, env }).catch(() => {});
  }
}

const cli = await bundleForChild('broker/cli/main.ts', 'cli-bench');
const harness = natsHarness();
const skein = new Map<string, Figures[]>(flushes.map((f) => [f, []]));
const nats: Figures[] = [];
for (let i = 1; i <= runs; i++) {
  for (const flush of flushes) {
    progress(`run ${i}/${runs}: skein, flush ${flush}`);
    skein.get(flush)!.push(await skeinRun(cli, i, flush));
  }
  if (harness !== null) {
    progress(`run ${i}/${runs}: NATS JetStream`);
    nats.push(await natsRun(harness, i));
  }
}

const keys: Array<keyof Figures> = ['produceMsgsPerSec', 'produceMBps', 'consumeMsgsPerSec', 'e2eP50Ms', 'e2eP99Ms'];
const summary: Record<string, unknown> = { runs, messages, size, rate, latencySeconds: seconds, latencyWarmupSeconds: warmup, replication: 3, acks: 'all' };
const rows = keys.map((key) => {
  const n = nats.length > 0 ? median(nats.map((f) => f[key])) : Number.NaN;
  const row: Record<string, string | number> = { figure: key };
  if (nats.length > 0) summary[`nats_${key}`] = n;
  for (const flush of flushes) {
    // The first flush policy keeps the plain key names, so older result lines stay comparable.
    const suffix = flush === flushes[0] ? '' : `_${flush.replace(':', '')}`;
    const s = median(skein.get(flush)!.map((f) => f[key]));
    summary[`skein_${key}${suffix}`] = s;
    row[`skein ${flush}`] = Number(s.toFixed(2));
    if (nats.length > 0) {
      summary[`ratio_${key}${suffix}`] = s / n;
      row[`/ NATS (${flush})`] = Number((s / n).toFixed(2));
    }
  }
  row['NATS JetStream'] = Number.isNaN(n) ? '-' : Number(n.toFixed(2));
  return row;
});
console.table(rows);
console.log(JSON.stringify(summary));
