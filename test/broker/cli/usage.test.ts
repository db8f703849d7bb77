import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundledSkein, runSkein } from './support.js';

/**
 * A user's first mistakes with the `skein` command, typed as a user types
 * them: each gets exit code 2 and one line that says what is wrong (and what
 * was probably meant), before anything talks to a cluster. Nothing listens
 * at SKEIN_BROKERS here, so a command that tried would hang, not pass.
 */
const nowhere = { SKEIN_BROKERS: '127.0.0.1:9' };
/** PATH without any `skein` on it: what a fresh clone has. */
const cleanPath = (process.env.PATH ?? '').split(delimiter).filter((dir) => !dir.includes('node_modules')).join(delimiter);
const scratch = mkdtempSync(join(tmpdir(), 'skein-usage-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function usageError(args: string[]): Promise<string> {
  const result = await runSkein(args, { env: { ...nowhere, PATH: cleanPath } });
  expect([args.join(' '), result.code]).toEqual([args.join(' '), 2]);
  expect(result.stdout).toBe('');
  return result.stderr;
}

describe('bad usage', () => {
  it('takes a negative number as the value it is and says why it is out of range', async () => {
    const stderr = await usageError(['produce', '--topic', 't', '--count', '-5']);
    expect(stderr).toMatch(/^skein produce: --count must be at least 1, got "-5"\n/);
    expect(stderr).not.toMatch(/ambiguous/);
    expect(await usageError(['consume', '--topic', 't', '--from', '-3'])).toMatch(/--from must be earliest, latest, an offset or @timestamp, got "-3"/);
  });

  it('suggests the flag, command or action that was probably meant', async () => {
    expect(await usageError(['produce', '--topik', 't'])).toMatch(/^skein produce: unknown flag --topik \(did you mean --topic\?\)\n/);
    expect(await usageError(['topic', 'create', 'x', '--partiton', '3'])).toMatch(/unknown flag --partiton \(did you mean --partitions\?\)/);
    expect(await usageError(['consume', '-topic', 't'])).toMatch(/unknown flag -topic \(did you mean --topic\?\)/);
    expect(await usageError(['produce', '--zzzzzz'])).toMatch(/unknown flag --zzzzzz\n/);
    expect(await usageError(['topc', 'list'])).toMatch(/^skein: unknown command "topc" \(did you mean "topic"\?\)\n/);
    expect(await usageError(['topic', 'lst'])).toMatch(/^skein topic: unknown action "lst" \(did you mean "list"\?\)\n/);
    expect(await usageError(['bench', 'prodcue'])).toMatch(/^skein bench: unknown benchmark "prodcue" \(did you mean "produce"\?\)\n/);
  });

  it('names a missing or doubled value', async () => {
    expect(await usageError(['produce', '--topic'])).toMatch(/--topic needs a value\n/);
    expect(await usageError(['produce', '--topic', '--verbose'])).toMatch(/--topic needs a value, got the flag --verbose/);
    expect(await usageError(['consume', '--topic', 'a', '--topic', 'b'])).toMatch(/--topic is given more than once/);
    expect(await usageError(['consume', '--topic', 'a', '--json=yes'])).toMatch(/--json takes no value/);
    expect(await usageError(['consume', '--topic', 'a', 'stray'])).toMatch(/unexpected argument "stray"/);
  });

  it('refuses a flag that would be ignored rather than let it look as if it did something', async () => {
    expect(await usageError(['produce', '--topic', 't', '--size', '10'])).toMatch(/--size sets the size of generated records: give --count too/);
    expect(await usageError(['produce', '--topic', 't', '--count', '5', '--key-separator', ':'])).toMatch(/--key-separator splits lines of stdin/);
    expect(await usageError(['bench', 'produce', '--rate', '10'])).toMatch(/^skein bench produce: unknown flag --rate\n/);
    expect(await usageError(['bench', 'e2e', '--linger-ms', '3'])).toMatch(/^skein bench e2e: unknown flag --linger-ms\n/);
    expect(await usageError(['bench', 'produce', '--group', 'g'])).toMatch(/^skein bench produce: unknown flag --group\n/);
    expect(await usageError(['bench', 'consume', '--consumers', '2'])).toMatch(/--consumers needs --group/);
    expect(await usageError(['bench', 'e2e', '--warmup', '5', '--seconds', '5'])).toMatch(/--warmup \(5 s\) must be shorter than --seconds \(5 s\)/);
  });

  it('refuses a bad topic name as bad usage, without asking a cluster', async () => {
    expect(await usageError(['topic', 'create', 'bad name!'])).toMatch(/^skein topic: topic name "bad name!" has characters outside \[A-Za-z0-9._-\]\n/);
    expect(await usageError(['topic', 'create', 'bad name!', '--replication', '1'])).toMatch(/characters outside/);
    expect(await usageError(['produce', '--topic', 'a/b'])).toMatch(/^skein produce: topic name "a\/b" has characters outside/);
    expect(await usageError(['consume', '--topic', '..'])).toMatch(/cannot be "." or ".."/);
  });

  it('parses `bench transport` flags with the same parser, and says so the same way', async () => {
    const transport = await usageError(['bench', 'transport', '--loss', '2']);
    const produce = await usageError(['bench', 'produce', '--acks', 'most']);
    expect(transport).toMatch(/^skein bench transport: --loss must be between 0 and 0.9, got "2"\nRun "npm run skein -- bench transport --help" for usage\.\n$/);
    expect(produce).toMatch(/^skein bench produce: --acks must be one of all, leader, none, got "most"\nRun "npm run skein -- bench produce --help" for usage\.\n$/);
    expect(await usageError(['bench', 'transport', '--lose', '0.1'])).toMatch(/unknown flag --lose \(did you mean --loss\?\)/);
    expect(await usageError(['bench', 'transport', '--size', '1500.5'])).toMatch(/--size must be an integer, got "1500.5"/);
    expect(await usageError(['bench', 'transport', '--bench-role', 'skein-sender'])).toMatch(/^skein bench transport: --bench-role is internal/);
  });

  it('reads each renamed flag by its old name into the new one, says so, and refuses both names at once', async () => {
    const notice = (old: string, now: string): string => `skein: the flag --${old} is now --${now}; the old name works until the next release\n`;
    // An out-of-range value given by the old name reaches the new flag's own check: the old name is read, not ignored.
    expect(await usageError(['consume', '--topic', 't', '--max', '0'])).toBe(`${notice('max', 'records-max')}skein consume: --records-max must be at least 1, got "0"\nRun "npm run skein -- consume --help" for usage.\n`);
    const inFlight = await usageError(['bench', 'produce', '--max-in-flight', '0']);
    expect(inFlight.startsWith(`${notice('max-in-flight', 'in-flight-max')}skein bench produce: --in-flight-max must be between 1 and `)).toBe(true);
    const batchBytes = await usageError(['bench', 'consume', '--batch-bytes', '5']);
    expect(batchBytes.startsWith(`${notice('batch-bytes', 'batch-bytes-max')}skein bench consume: --batch-bytes-max must be between 1024 and `)).toBe(true);
    expect(await usageError(['consume', '--topic', 't', '-n', '2', '--max', '3'])).toMatch(/^skein consume: --max is the old name of --records-max; give --records-max only\n/);
    expect(await usageError(['bench', 'produce', '--in-flight-max', '2', '--max-in-flight', '3'])).toMatch(/^skein bench produce: --max-in-flight is the old name of --in-flight-max; give --in-flight-max only\n/);
    expect(await usageError(['bench', 'e2e', '--batch-bytes', '2048'])).toMatch(/^skein bench e2e: unknown flag --batch-bytes\n/);
    expect(await usageError(['bench', 'produce', '--batch-bytes', '2048', '--batch-bytes-max', '4096'])).toMatch(/^skein bench produce: --batch-bytes is the old name of --batch-bytes-max; give --batch-bytes-max only\n/);
  });

  it('keeps `skein dev --brokers N` working with a notice, and refuses an address list there', async () => {
    const list = await usageError(['dev', '--brokers', '127.0.0.1:9092']);
    expect(list).toMatch(/skein dev starts its own brokers: --broker-count N says how many, --port where they listen/);
    expect(await usageError(['dev', '--broker-count', '8'])).toMatch(/--broker-count must be between 1 and 7, got "8"/);
    expect(await usageError(['dev', '--broker-count', '2', '--brokers', '2'])).toMatch(/--brokers is the old name of --broker-count; give one of them/);
  });
});

describe('help', () => {
  const commands = [['broker'], ['dev'], ['topic'], ['produce'], ['consume'], ['bench', 'produce'], ['bench', 'consume'], ['bench', 'e2e'], ['bench', 'transport']];

  it('answers --help and -h on every command with exit 0, in one layout', async () => {
    for (const command of commands) {
      for (const flag of ['--help', '-h']) {
        const { code, stdout, stderr } = await runSkein([...command, flag], { env: nowhere });
        const label = `${command.join(' ')} ${flag}`;
        expect([label, code, stderr]).toEqual([label, 0, '']);
        expect(stdout, label).toMatch(new RegExp(`^usage: skein ${command.join(' ')}[ \\n]`));
        expect(stdout, label).not.toMatch(/<value>|VALUE|SDK default/);
        const rows = stdout.slice(stdout.indexOf('\nflags:\n') + 8).split('\n').filter((line) => line.startsWith('  '));
        expect(rows.length, label).toBeGreaterThan(1);
        // Every description starts in the same column, two spaces after the longest flag.
        const columns = new Set(rows.map((row) => /^ {2}(?:-\w, | {4})--\S+(?: \S+)? +/.exec(row)?.[0].length));
        expect([label, columns.size, [...columns].includes(undefined)]).toEqual([label, 1, false]);
        expect(rows.some((row) => /^ {2}(?:-\w, | {4})--\S+(?: \S+)? {2}\S/.test(row)), label).toBe(true);
      }
    }
  }, 60_000);

  it('shows what a flag takes and what the command does without it', async () => {
    const { stdout } = await runSkein(['bench', 'produce', '--help']);
    expect(stdout).toMatch(/ --messages N +records to produce \/ consume \(default: 200000\)\n/);
    expect(stdout).toMatch(/ --batch-bytes-max BYTES +producer batch size \(default: \d+\)\n/);
    expect(stdout).toMatch(/ --in-flight-max N +batches in flight per partition \(default: \d+\)\n/);
    expect(stdout).not.toMatch(/--batch-bytes |--max-in-flight/);
    expect((await runSkein(['consume', '--help'])).stdout).toMatch(/ -n, --records-max N +stop after this many records\n/);
    expect((await runSkein(['consume', '--help'])).stdout).not.toMatch(/--max /);
    expect((await runSkein(['dev', '--help'])).stdout).toMatch(/ --broker-count N +how many brokers \(default: 3\)\n/);
    expect((await runSkein(['dev', '--help'])).stdout).not.toMatch(/--brokers/);
  });

  it('`skein` and `skein bench` alone list what they run and exit 2; with --help they exit 0', async () => {
    const bare = await runSkein([]);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toMatch(/^usage: skein <command>/);
    expect((await runSkein(['--help'])).code).toBe(0);
    const bench = await runSkein(['bench']);
    expect(bench.code).toBe(2);
    expect(bench.stdout).toMatch(/^usage: skein bench transport\|produce\|consume\|e2e \[flags\]\n[\s\S]*\n {2}transport {2,}\S/);
    expect((await runSkein(['bench', '-h'])).code).toBe(0);
  });
});

describe('the hint names the command that works in this install', () => {
  function installedCopy(): string {
    // The layout of `npm install skein`: resolution of cbor-x walks up to this repository's node_modules.
    const dir = join(dirname(bundledSkein()), 'install', 'node_modules', 'skein', 'dist');
    mkdirSync(dir, { recursive: true });
    const script = join(dir, 'cli.mjs');
    copyFileSync(bundledSkein(), script);
    return script;
  }

  it('in a clone: npm run skein --', async () => {
    expect(await usageError(['produce', '--bogus'])).toMatch(/Run "npm run skein -- produce --help" for usage\./);
  });

  it('installed as a dependency: npx skein', async () => {
    const { code, stderr } = await runSkein(['topic', 'lst'], { script: installedCopy(), env: { ...nowhere, PATH: cleanPath } });
    expect(code).toBe(2);
    expect(stderr).toMatch(/Run "npx skein topic --help" for usage\./);
  });

  it('with skein on the PATH (npm link, a global install): skein', async () => {
    const bin = join(scratch, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, process.platform === 'win32' ? 'skein.cmd' : 'skein'), '#!/bin/sh\n');
    chmodSync(join(bin, process.platform === 'win32' ? 'skein.cmd' : 'skein'), 0o755);
    const { stderr } = await runSkein(['consume', '--bogus'], { env: { ...nowhere, PATH: `${bin}${delimiter}${cleanPath}` } });
    expect(stderr).toMatch(/Run "skein consume --help" for usage\./);
  });
});
