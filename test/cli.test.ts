import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Skein } from '../sdk/index.js';
import { clusterForFile, freePorts } from './broker/support/cluster.js';
import { bundledSkein, runSkein, runSkeinOnTerminal, type SkeinRun } from './broker/cli/support.js';
import { until } from './sdk/support/harness.js';

/** The `skein` command as an operator types it: exit codes, messages, and the client subcommands end to end. */
const cluster = clusterForFile(3);
const scratch = mkdtempSync(join(tmpdir(), 'skein-cli-'));
/** PATH as a fresh clone has it: no `skein` on it. */
const cleanPath = (process.env.PATH ?? '').split(delimiter).filter((dir) => !dir.includes('node_modules')).join(delimiter);

function skein(args: string[], input?: string): Promise<SkeinRun> {
  return runSkein(args, { env: { SKEIN_BROKERS: cluster.bootstrap.join(',') }, ...(input === undefined ? {} : { input }) });
}

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

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

  it('with no cluster at the address, topic list, produce and consume say so (NO_BROKERS_REACHABLE, the address, what happened) and suggest skein dev', async () => {
    const [port] = await freePorts(1);
    const nowhere = { env: { SKEIN_BROKERS: `127.0.0.1:${port}`, PATH: cleanPath } };
    const runs = await Promise.all([
      runSkein(['topic', 'list'], nowhere),
      runSkein(['produce', '--topic', 'lines'], { ...nowhere, input: 'one\ntwo\n' }),
      runSkein(['consume', '--topic', 'lines'], nowhere),
    ]);
    for (const [run, label] of [[runs[0]!, 'topic'], [runs[1]!, 'produce'], [runs[2]!, 'consume']] as const) {
      expect(run.code, run.stderr).toBe(1);
      expect(run.stdout).toBe('');
      // The dial ends with the 3 s window, counted from when the contact began: a millisecond or two may have passed.
      expect(run.stderr.replace(/within \d+ ms/, 'within N ms')).toBe(
        `skein ${label}: NO_BROKERS_REACHABLE: the bootstrap broker did not answer: 127.0.0.1:${port} (no answer within N ms). Is the cluster running, and are these its addresses?\n` +
          'To start a local cluster on 127.0.0.1:9092-9094: npm run skein -- dev\n' +
          'To use another cluster: --brokers HOST:PORT,... or SKEIN_BROKERS.\n',
      );
    }
  }, 60_000);

  it('reads from the first record by default, in `skein consume`, the SDK consumer and a push subscription alike', async () => {
    expect((await skein(['topic', 'create', 'defaults', '--partitions', '1'])).code).toBe(0);
    expect((await skein(['produce', '--topic', 'defaults'], 'a\nb\nc\n')).code).toBe(0);
    expect((await skein(['consume', '--topic', 'defaults'])).stdout).toBe('a\nb\nc\n');
    // The flag's name before 0.2 still works, and says it is deprecated.
    const old = await skein(['consume', '--topic', 'defaults', '--max', '2']);
    expect([old.code, old.stdout, old.stderr]).toEqual([0, 'a\nb\n', 'skein: the flag --max is now --records-max; the old name works until the next release\n']);
    await using client = new Skein({ brokers: cluster.bootstrap, clientId: 'cli-test-defaults' });
    await using consumer = client.consumer<string>({ topic: 'defaults' });
    expect((await consumer.fetch({ recordsMax: 10, waitMsMax: 2000 })).map((r) => r.value)).toEqual(['a', 'b', 'c']);
    const pushed: string[] = [];
    let allPushed = (): void => {};
    const all = new Promise<void>((resolve) => (allPushed = resolve));
    await using _subscription = client.subscribe<string>({
      topic: 'defaults',
      handler: (record) => {
        if (pushed.push(record.value) === 3) allPushed();
      },
    });
    await all;
    expect(pushed).toEqual(['a', 'b', 'c']);
  }, 60_000);

  it('runs a produce benchmark to one JSON object', async () => {
    const { code, stdout, stderr } = await skein(['bench', 'produce', '--messages', '2000', '--topic', 'clibench', '--batch-bytes-max', '32768', '--in-flight-max', '2', '--json']);
    expect(code).toBe(0);
    expect(stderr).not.toMatch(/deprecated|is now/);
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, number>;
    expect(result).toMatchObject({ messages: 2000, errors: 0 });
    for (const key of ['msgsPerSec', 'MBps', 'p50Ms', 'p99Ms']) expect(typeof result[key]).toBe('number');
    // The producer flags' names before 0.2 still work, and say they are deprecated.
    const old = await skein(['bench', 'produce', '--messages', '200', '--topic', 'clibench', '--batch-bytes', '32768', '--max-in-flight', '2', '--json']);
    expect([old.code, JSON.parse(old.stdout.trim().split('\n').at(-1)!)]).toMatchObject([0, { messages: 200, errors: 0 }]);
    expect(old.stderr).toContain('skein: the flag --batch-bytes is now --batch-bytes-max; the old name works until the next release\n');
    expect(old.stderr).toContain('skein: the flag --max-in-flight is now --in-flight-max; the old name works until the next release\n');
  }, 60_000);

  it('runs a consume benchmark as the members of a group, from the start each time, the join timed apart', async () => {
    const run = async (): Promise<Record<string, unknown>> => {
      const { code, stdout } = await skein(['bench', 'consume', '--messages', '2000', '--topic', 'clibench-group', '--group', 'clibench', '--consumers', '2', '--json']);
      expect(code).toBe(0);
      return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    };
    const first = await run();
    expect(first).toMatchObject({ group: 'clibench', consumers: 2, errors: 0 });
    expect(first.messages).toBeGreaterThanOrEqual(2000);
    expect(first.startMs).toBeGreaterThan(0);
    // The group committed what it read; the next run resets it and reads the same records again.
    expect(await run()).toMatchObject({ group: 'clibench', consumers: 2, errors: 0 });
    // Other tests of this cluster count its groups.
    expect((await skein(['group', 'delete', 'clibench'])).code).toBe(0);
  }, 60_000);
});

describe('progress of long work', () => {
  // Rate-paced, so it lasts at least --seconds whatever the machine's speed: progress has something to show.
  const e2e = (topic: string): string[] => ['bench', 'e2e', '--topic', topic, '--partitions', '1', '--replication', '1', '--rate', '400', '--seconds', '3', '--warmup', '1', '--size', '16', '--brokers', cluster.bootstrap.join(',')];

  it('writes plain lines, one a second, when stderr is not a terminal', async () => {
    const { code, stdout, stderr } = await skein(e2e('progress-plain'));
    expect(code).toBe(0);
    expect(stdout).toMatch(/^e2e: \d+ records of 16 B/);
    const lines = stderr.split('\n').filter((line) => line.startsWith('e2e '));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(line).toMatch(/^e2e +\d+\/1200 sent +\d+ msgs\/s +received \d+ +ETA \d+:\d\d$/);
    expect(stderr).not.toMatch(/[\r\x1b]/);
  }, 60_000);

  it('redraws one line with a bar, rate and ETA on a terminal, and clears it before the result', async () => {
    const { code, stdout: screen } = await runSkeinOnTerminal(e2e('progress-tty'));
    expect(code).toBe(0);
    const redraws = screen.split('\r\x1b[K').slice(1);
    expect(redraws.length).toBeGreaterThanOrEqual(2);
    const drawn = redraws.filter((r) => r.startsWith('e2e '));
    expect(drawn.length).toBeGreaterThanOrEqual(2);
    for (const line of drawn) {
      expect(line).toMatch(/^e2e \[[#-]+\] +\d+% +\d+\/1200 sent +\d+ msgs\/s +received \d+ +ETA \d+:\d\d/);
      expect(line.length).toBeLessThanOrEqual(99);
      expect(line).not.toMatch(/\n/);
    }
    // The result starts on a clean line: the bar is erased, not left above it.
    expect(screen).toMatch(/\r\x1b\[Ke2e: \d+ records of 16 B/);
  }, 60_000);
});

describe('skein dev', () => {
  async function devArgs(): Promise<string[]> {
    const [port] = await freePorts(1);
    return ['--port', String(port), '--data', mkdtempSync(join(scratch, 'dev-')), '--demo'];
  }

  it('prints how to reach it with the command that works here, a compact demo line a second, and stops when its terminal goes', async () => {
    const args = await devArgs();
    const { code, stdout, stderr } = await runSkein(['dev', '--broker-count', '1', ...args], {
      env: { PATH: cleanPath },
      stopWhen: { stdout: /(demo .*\n){2}/, signal: 'SIGHUP' },
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^ +SKEIN_BROKERS=127\\.0\\.0\\.1:${args[1]} npm run skein -- topic list$`, 'm'));
    const demo = stdout.split('\n').filter((line) => line.startsWith('demo '));
    expect(demo.length).toBeGreaterThanOrEqual(2);
    for (const line of demo) {
      expect(line).toMatch(/^demo +produced +\d+\/s +consumed +\d+\/s +e2e p50 +(-|\d+ ms) +p99 +(-|\d+ ms) +total +\d+$/);
      expect(line.length).toBeLessThanOrEqual(80);
    }
    expect(stderr).toMatch(/skein dev: stopping brokers/);
    expect(stderr).toMatch(/\[broker 1\] skein broker 1: stopping \(handing over leadership\)/);
  }, 60_000);

  it.runIf(process.platform === 'linux')('its brokers stop when it is killed outright (SIGKILL), rather than running on without it', async () => {
    const [port] = await freePorts(1);
    const data = mkdtempSync(join(scratch, 'dev-'));
    const brokers = (): number[] => processesMentioning(data);
    try {
      const dev = spawn(process.execPath, [bundledSkein(), 'dev', '--broker-count', '2', '--port', String(port), '--data', data], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      // Both listening, so both have said all they say at start: a broker that writes to its dead parent's pipe dies of EPIPE anyway.
      await new Promise<void>((resolve) => dev.stderr.on('data', (d: Buffer) => (stderr += d.toString()).match(/listening on/g)?.length === 2 && resolve()));
      expect(brokers()).toHaveLength(3);
      dev.kill('SIGKILL');
      await until(() => brokers().length === 0, 'the orphaned brokers to stop', 30_000);
    } finally {
      for (const pid of brokers()) process.kill(pid, 'SIGKILL');
    }
  }, 60_000);

  it('on a terminal redraws the demo in place; the old --brokers N still works, with a notice', async () => {
    const args = await devArgs();
    const { code, stdout: screen } = await runSkeinOnTerminal(['dev', '--brokers', '1', ...args], { env: { PATH: cleanPath }, interruptWhen: /(\r\x1b\[Kdemo [^\r]*){2}/ });
    expect(code).toBe(0);
    expect(screen).toMatch(/skein dev: --brokers 1 is deprecated: use --broker-count 1 \(elsewhere --brokers lists addresses\)/);
    const drawn = screen.split('\r\x1b[K').filter((r) => r.startsWith('demo '));
    expect(drawn.length).toBeGreaterThanOrEqual(2);
    for (const line of drawn.slice(0, -1)) expect(line).not.toMatch(/\n/);
  }, 60_000);
});

/** Processes whose command line mentions `text` (Linux /proc), this one aside. */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text)) pids.push(pid);
    } catch {
      // Gone between the listing and the read.
    }
  }
  return pids;
}

function jsonLines(run: SkeinRun): { topic: string; partition: number; offset: number; value: unknown }[] {
  return run.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { topic: string; partition: number; offset: number; value: unknown });
}

describe('skein group and skein consume --group', () => {
  it('consumes as a group member, resumes where it committed, shows lag, refuses a reset of a live group, resets and deletes', async () => {
    expect((await skein(['topic', 'create', 'ledger', '--partitions', '2', '--replication', '3'])).code).toBe(0);
    const input = Array.from({ length: 10 }, (_, i) => `entry-${i}`).join('\n');
    expect((await skein(['produce', '--topic', 'ledger'], `${input}\n`)).code).toBe(0);
    expect(JSON.parse((await skein(['group', 'list', '--json'])).stdout)).toEqual([]);

    const first = await skein(['consume', '--topic', 'ledger', '--group', 'g1', '--records-max', '4', '--json']);
    expect(first.code).toBe(0);
    const firstRecords = jsonLines(first);
    expect(firstRecords).toHaveLength(4);

    const described = await skein(['group', 'describe', 'g1', '--json']);
    expect(described.code).toBe(0);
    const partitions = (JSON.parse(described.stdout) as { partitions: { committed: number | null; end: number; lag: number | null; deadLettered: number; skipped: number }[] }).partitions;
    expect(partitions).toHaveLength(2);
    expect(partitions.reduce((n, p) => n + p.end, 0)).toBe(10);
    expect(partitions.reduce((n, p) => n + (p.committed ?? 0), 0)).toBe(4);
    for (const p of partitions) expect(p).toMatchObject({ lag: p.committed === null ? null : p.end - p.committed, deadLettered: 0, skipped: 0 });
    expect((await skein(['group', 'describe', 'g1'])).stdout).toMatch(/TOPIC\s+PARTITION\s+COMMITTED\s+END\s+LAG/);

    // The next member of the group reads the other six: nothing again, nothing skipped.
    const rest = jsonLines(await skein(['consume', '--topic', 'ledger', '--group', 'g1', '--json']));
    const values = [...firstRecords, ...rest].map((r) => r.value).sort();
    expect(values).toEqual(input.split('\n').sort());
    expect(JSON.parse((await skein(['group', 'list', '--json'])).stdout)).toEqual([{ group: 'g1', state: 'empty', members: 0 }]);

    // A live member: the reset is refused, with the reason.
    const client = new Skein({ brokers: cluster.bootstrap, clientId: 'live-member' });
    const member = client.consumer({ group: 'g1', topic: 'ledger' });
    const deadline = Date.now() + 20_000;
    while (member.assignment().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const refused = await skein(['group', 'reset', 'g1', '--topic', 'ledger', '--to', 'earliest']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/GROUP_NOT_EMPTY: group g1 has 1 member/);
    const live = (await skein(['group', 'describe', 'g1'])).stdout;
    expect(live).toMatch(/live-member/);
    expect(live).toMatch(/MEMBER\s+CLIENT\s+HOST\s+INSTANCE\s+PARTITIONS\s+HEARD\s+STALLED/);
    expect(live).toMatch(/DEAD-LETTERED\s+SKIPPED/);
    await member.close();
    await client.close();

    const reset = await skein(['group', 'reset', 'g1', '--topic', 'ledger', '--to', 'earliest', '--json']);
    expect(reset.code).toBe(0);
    expect((JSON.parse(reset.stdout) as { offsets: { offset: number }[] }).offsets.map((o) => o.offset)).toEqual([0, 0]);
    expect((await skein(['group', 'reset', 'g1', '--topic', 'ledger'])).code).toBe(2);
    expect((await skein(['group', 'delete', 'g1'])).code).toBe(0);
    const gone = await skein(['group', 'describe', 'g1']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/UNKNOWN_GROUP/);

    // A topic that does not exist ends a group member at once, saying which.
    const missing = await skein(['consume', '--topic', 'ledger,nowhere', '--group', 'g2', '--follow']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/UNKNOWN_TOPIC: topic "nowhere" does not exist/);
  }, 120_000);
});
