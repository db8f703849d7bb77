import { execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { clusterForFile, freePorts } from './broker/support/cluster.js';
import { bundleForChild } from './support/bundle.js';

/** The example scripts run as a reader would run them, against a real cluster, and do what they say. */
const run = promisify(execFile);
const cluster = clusterForFile(3);

async function exampleRun(name: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const script = await bundleForChild(`examples/${name}.ts`, `example-${name}`);
  return run(process.execPath, [script, ...args], { env: { ...process.env, SKEIN_BROKERS: cluster.bootstrap.join(',') }, timeout: 60_000 });
}

async function example(name: string, args: string[]): Promise<string> {
  return (await exampleRun(name, args)).stdout;
}

/** Starts examples/start-cluster.ts with a temporary folder of its own; resolves with its exit code and output once it stopped (SIGINT once ready). */
async function startCluster(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; leftInTmp: string[] }> {
  const script = await bundleForChild('examples/start-cluster.ts', 'example-start-cluster');
  const tmp = mkdtempSync(join(tmpdir(), 'skein-examples-tmp-'));
  try {
    const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, TMPDIR: tmp } });
    let stdout = '';
    let stderr = '';
    let interrupted = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      // Once, as one Ctrl-C: a second one while it stops would kill it (the example listens for the first only).
      if (!interrupted && /cluster ready/.test(stdout)) interrupted = child.kill('SIGINT');
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
    return { code, stdout, stderr, leftInTmp: readdirSync(tmp) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

describe('examples', () => {
  it('produce, then read back with the pull and the push consumer; a count that is a multiple of 5,000 still names the last record', async () => {
    expect(await example('producer', ['--count', '5000'])).toMatch(/produced 5000 orders in [\d.]+ s \(\d+ records\/s\); last one: \{\s+topic: 'orders',\s+partition: \d,\s+offset: \d+,\s+timestamp: \d+\s+\}\n$/);
    expect(await example('producer', ['--count', '7'])).toMatch(/last one: \{\s+topic: 'orders',\s+partition: \d,\s+offset: \d+/);
    expect(await example('pull-consumer', ['--records-max', '5007'])).toMatch(/read 5007 orders worth \d+\.\d\d/);
    // More than there is: it stops once nothing new came for two seconds.
    expect(await example('pull-consumer', ['--records-max', '10000'])).toMatch(/read 5007 orders worth \d+\.\d\d/);
    const push = await exampleRun('push-consumer', ['--records-max', '5007']);
    expect(push.stdout).toMatch(/handled 5007 orders/);
    // A normal exit says nothing on stderr: no `status: { type: 'closed' }` that reads like an error.
    expect(push.stderr).toBe('');
  }, 120_000);

  it('group-consumer: two workers split a topic, and a restarted pair goes on from the committed offsets, handling nothing twice', async () => {
    const out = await example('group-consumer', ['--count', '400']);
    expect(out).toMatch(/^first run: worker-1 owns group-orders\/\d,\d,\d$/m);
    expect(out).toMatch(/^first run: worker-2 owns group-orders\/\d,\d,\d$/m);
    expect(out).toMatch(/^first run: 400 orders handled \(worker-1 \d+, worker-2 \d+\), committed$/m);
    expect(out).toMatch(/^after restart: 200 orders handled \(worker-1 \d+, worker-2 \d+\), committed$/m);
    expect(out).toMatch(/^in all: 600 orders handled, 0 handled twice$/m);
  }, 90_000);

  it('start-cluster: three brokers in one process, stopped by Ctrl-C, leaving no temporary folder', async () => {
    const [port] = await freePorts(1);
    const { code, stdout, stderr, leftInTmp } = await startCluster(['--port', String(port)]);
    expect(stderr).toBe('');
    expect(stdout).toMatch(new RegExp(`cluster ready: SKEIN_BROKERS=127\\.0\\.0\\.1:${port},127\\.0\\.0\\.1:${port! + 1},127\\.0\\.0\\.1:${port! + 2}\n`));
    expect(stdout).toMatch(/stopping: each broker hands its leaderships over first/);
    expect(code).toBe(0);
    expect(leftInTmp).toEqual([]);
  }, 60_000);

  it('start-cluster next to npm start: a port of --port in use is refused in a sentence; without --port it takes free ports', async () => {
    const taken = createSocket('udp4');
    await new Promise<void>((resolve) => taken.bind(0, '127.0.0.1', resolve));
    // 9092 held here when it can be (else something else holds it, as npm start would): either way the default is taken.
    const npmStart = createSocket('udp4');
    npmStart.on('error', () => {});
    await new Promise<void>((resolve) => {
      npmStart.once('error', () => resolve());
      npmStart.bind(9092, '127.0.0.1', resolve);
    });
    try {
      const refused = await startCluster(['--port', String(taken.address().port)]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toBe(`start-cluster: ports ${taken.address().port}-${taken.address().port + 2}: one of them is in use (a skein dev or npm start?); choose another --port\n`);
      expect(refused.leftInTmp).toEqual([]);
      const elsewhere = await startCluster([]);
      expect(elsewhere.stdout).toMatch(/^127\.0\.0\.1:9092-9094 are in use \(a skein dev or npm start\?\): taking free ports instead$/m);
      expect(elsewhere.stdout).toMatch(/cluster ready: SKEIN_BROKERS=127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+\n/);
      expect(elsewhere.code).toBe(0);
      expect(elsewhere.leftInTmp).toEqual([]);
    } finally {
      taken.close();
      try {
        npmStart.close();
      } catch {
        // it never bound
      }
    }
  }, 60_000);

  it('lossy-link: three brokers and the client on a 10% lossy link lose, duplicate and reorder nothing, a row as each rate completes', async () => {
    const out = await example('lossy-link', ['--rates', '0.1', '--records', '3000']);
    const [header, row] = out.trim().split('\n');
    expect(header!.trim().split(/\s{2,}/)).toEqual(['loss', 'produce msgs/s', 'consume msgs/s', 'delivered', 'duplicates', 'out of order']);
    const cells = row!.trim().split(/\s+/);
    expect([cells[0], ...cells.slice(3)]).toEqual(['10%', '3000', '0', '0']);
  }, 120_000);
});
