import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { InProcessCluster } from './broker/support/cluster.js';

/** The `skein` command as an operator types it: exit codes, messages, and the client subcommands end to end. */
const run = promisify(execFile);
let cluster: InProcessCluster;
let cli: string;

async function skein(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, SKEIN_BROKERS: cluster.bootstrap.join(',') } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

beforeAll(async () => {
  const path = inject('cliPath');
  if (path === null) throw new Error('the skein command was not bundled');
  cli = path;
  cluster = new InProcessCluster(3);
  await cluster.start();
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

describe('skein command', () => {
  it('refuses bad usage with exit code 2 and a message naming the problem', async () => {
    const unknown = await skein(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
    const badFlag = await skein(['broker', '--id', '1', '--data', '/tmp/x', '--bogus']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/bogus/);
    const missing = await skein(['broker', '--data', '/tmp/x']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--id is required/);
    const badValue = await skein(['broker', '--id', 'one', '--data', '/tmp/x']);
    expect(badValue.code).toBe(2);
    expect(badValue.stderr).toMatch(/id must be an integer/);
    const badPeers = await skein(['broker', '--id', '1', '--data', '/tmp/x', '--peers', '2@127.0.0.1:1']);
    expect(badPeers.code).toBe(2);
    expect(badPeers.stderr).toMatch(/peers must include this broker/);
    const unreachable = await skein(['broker', '--id', '1', '--data', '/tmp/x', '--listen', '0.0.0.0:9092', '--peers', '1@10.0.0.1:9092,2@10.0.0.2:9092']);
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toMatch(/advertises 127\.0\.0\.1:9092.*peers lists broker 1 at 10\.0\.0\.1:9092/);
    const badBench = await skein(['bench', 'transport', '--loss', '2']);
    expect(badBench.code).toBe(2);
    const badAcks = await skein(['produce', '--topic', 't', '--acks', 'most']);
    expect(badAcks.code).toBe(2);
    expect(badAcks.stderr).toMatch(/--acks must be one of all, leader, none, got "most"/);
    expect((await skein(['--help'])).code).toBe(0);
  });

  it('creates, lists and describes topics, produces lines and consumes them back', async () => {
    const created = await skein(['topic', 'create', 'lines', '--partitions', '2', '--replication', '3', '--json']);
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ name: 'lines', partitions: [{ partition: 0 }, { partition: 1 }] });
    expect((await skein(['topic', 'list'])).stdout).toMatch(/^lines$/m);
    expect((await skein(['topic', 'describe', 'lines'])).stdout).toMatch(/2 partitions/);
    // '7' is also a one-byte CBOR value (-24): the key must come back as the text it was.
    const produced = await skein(['produce', '--topic', 'lines', '--key', '7'], 'first\nsecond\nthird\n');
    expect(produced.code).toBe(0);
    expect(produced.stderr).toMatch(/produced 3 records/);
    const consumed = await skein(['consume', '--topic', 'lines', '--from', 'earliest']);
    expect(consumed.code).toBe(0);
    expect(consumed.stdout.trim().split('\n')).toEqual(['7\tfirst', '7\tsecond', '7\tthird']);
    const duplicate = await skein(['topic', 'create', 'lines']);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toMatch(/TOPIC_EXISTS/);
    expect((await skein(['topic', 'delete', 'lines'])).code).toBe(0);
  }, 60_000);

  it('runs a produce benchmark to one JSON object', async () => {
    const { stdout } = await run(process.execPath, [cli, 'bench', 'produce', '--brokers', cluster.bootstrap.join(','), '--messages', '2000', '--topic', 'clibench', '--json'], { timeout: 60_000 });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, number>;
    expect(result).toMatchObject({ messages: 2000, errors: 0 });
    for (const key of ['msgsPerSec', 'MBps', 'p50Ms', 'p99Ms']) expect(typeof result[key]).toBe('number');
  }, 60_000);
});
