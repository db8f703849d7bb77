import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { build, type Plugin } from 'esbuild';
import { defineTopic, serdes, Skein } from '../../sdk/index.js';
import { BrokerProcesses } from '../integration/support/processes.js';
import { projectRoot } from '../support/root.js';

/**
 * Thousands of partitions created, then deleted a few seconds later, while a
 * normal client produces to a small topic at a steady rate: the brokers' RSS
 * (sampled every second) and that client's produce latency during and after
 * the churn. Run against the broker as built here and, with --before REV,
 * against Broker.reconcile as it was at REV (broker/broker.ts of that
 * revision, bundled with everything else from here), in one run.
 *
 *   npm run bench:partition-churn -- [--partitions 2000] [--delete-after 5] [--after 40] [--before main]
 */
function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : process.argv[at + 1]!;
}

const root = projectRoot();
const partitions = Number(flag('partitions', '2000'));
const deleteAfterS = Number(flag('delete-after', '5'));
const afterS = Number(flag('after', '40'));
const before = flag('before', '');
const ratePerS = 200;

async function bundleCli(name: string, plugins: Plugin[]): Promise<string> {
  const outfile = join(root, '.test-build', `churn-${name}-${process.pid}.mjs`);
  await build({ entryPoints: [resolve(root, 'broker/cli/main.ts')], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'error', plugins });
  return outfile;
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024;
}

const pct = (xs: number[], p: number): number => (xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!);

async function scenario(label: string, cli: string): Promise<void> {
  const cluster = new BrokerProcesses(cli, { size: 3, tickMs: 100, electionTicks: 10 });
  await cluster.startAll();
  const client = new Skein({ brokers: cluster.bootstrap, clientId: 'churn-normal', requestTimeoutMs: 10_000, deliveryTimeoutMs: 60_000 });
  const admin = new Skein({ brokers: cluster.bootstrap, clientId: 'churn-admin', requestTimeoutMs: 60_000 });
  try {
    const topic = defineTopic<number>('normal', { value: serdes.cbor<number>() });
    await client.admin().createTopic({ name: 'normal', partitions: 3, replicationFactor: 3 });
    const producer = client.producer({ acks: 'all', lingerMs: 0 });
    const latencies: { atS: number; ms: number }[] = [];
    const rss: { atS: number; mb: number }[] = [];
    const start = performance.now();
    const at = (): number => (performance.now() - start) / 1000;
    let stop = false;
    const produce = (async () => {
      const sends: Promise<void>[] = [];
      for (let i = 0; !stop; i++) {
        const sent = performance.now();
        sends.push(producer.send({ topic, messages: [{ value: i }] }).then(() => void latencies.push({ atS: (sent - start) / 1000, ms: performance.now() - sent }), () => void latencies.push({ atS: (sent - start) / 1000, ms: Infinity })));
        await new Promise((r) => setTimeout(r, 1000 / ratePerS));
      }
      await Promise.all(sends);
    })();
    const sampler = setInterval(() => {
      const pids = [...cluster.children.values()].map((c) => c.pid!).filter((p) => p !== undefined);
      rss.push({ atS: at(), mb: Math.max(...pids.map(rssMb)) });
    }, 1000);
    const topics = Math.ceil(partitions / 1000);
    const names = Array.from({ length: topics }, (_, i) => `churn-${i}`);
    // Not awaited: createTopic answers once every partition has a leader, and the point is to delete them before.
    for (const [i, name] of names.entries()) void admin.admin().createTopic({ name, partitions: Math.min(1000, partitions - 1000 * i), replicationFactor: 3 }).catch(() => {});
    await new Promise((r) => setTimeout(r, deleteAfterS * 1000));
    for (const name of names) {
      // The create may still be on its way to the controller: a deletion before it is UNKNOWN_TOPIC, and is tried again.
      for (let attempt = 0; attempt < 100; attempt++) {
        const gone = await admin.admin().deleteTopic(name).then(() => true, (error: { code?: string }) => (error.code === 'UNKNOWN_TOPIC' ? false : true));
        if (gone) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const deletedAtS = at();
    // When no broker holds a directory of the deleted partitions any more (each is opened, then deleted).
    const leftovers = (): number =>
      [...cluster.children.keys()].reduce((n, id) => {
        const dir = join(cluster.dir, `broker-${id}`, 'partitions');
        return n + (existsSync(dir) ? readdirSync(dir).filter((d) => d.startsWith('churn-')).length : 0);
      }, 0);
    let clearedAtS: number | null = null;
    while (at() < deletedAtS + afterS) {
      if (clearedAtS === null && leftovers() === 0) clearedAtS = at();
      await new Promise((r) => setTimeout(r, 250));
    }
    stop = true;
    await produce;
    clearInterval(sampler);
    const during = latencies.filter((l) => l.atS < deletedAtS + 10).map((l) => l.ms);
    const after = latencies.filter((l) => l.atS >= deletedAtS + 10).map((l) => l.ms);
    const rssEnd = rss.at(-1)?.mb ?? NaN;
    console.log(
      `${label.padEnd(14)} ${partitions} partitions (x3 replicas) created, deleted ${deleteAfterS} s later (done at ${deletedAtS.toFixed(1)} s); ` +
        `deleted partitions gone from every broker ${clearedAtS === null ? `not within ${afterS} s` : `${(clearedAtS - deletedAtS).toFixed(1)} s after`}; ` +
        `normal produce p50/p99 until 10 s after the deletion ${pct(during, 50).toFixed(0)}/${pct(during, 99).toFixed(0)} ms, later ${pct(after, 50).toFixed(0)}/${pct(after, 99).toFixed(0)} ms; ` +
        `broker RSS max ${Math.max(...rss.map((r) => r.mb)).toFixed(0)} MB, at the end ${rssEnd.toFixed(0)} MB; failed sends ${latencies.filter((l) => l.ms === Infinity).length}`,
    );
  } finally {
    await client.close().catch(() => {});
    await admin.close().catch(() => {});
    await cluster.close();
  }
}

const after = await bundleCli('after', []);
if (before !== '') {
  // broker/broker.ts as it was at `before`, resolved as if it sat beside the real one; everything else from here. Nothing is written to the tree.
  const contents = execFileSync('git', ['show', `${before}:broker/broker.ts`], { cwd: root, encoding: 'utf8' });
  const swap: Plugin = {
    name: 'before',
    setup: (b) => {
      b.onResolve({ filter: /^\.\.\/broker\.js$/ }, (args) => (args.importer.includes(join('broker', 'cli')) ? { path: 'broker.ts', namespace: 'before' } : undefined));
      b.onLoad({ filter: /.*/, namespace: 'before' }, () => ({ contents, loader: 'ts', resolveDir: join(root, 'broker') }));
    },
  };
  await scenario(`before (${before})`, await bundleCli('before', [swap]));
}
await scenario('after', after);
