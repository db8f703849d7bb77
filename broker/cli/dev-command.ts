import { randomBytes } from 'node:crypto';
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { boolFlag, helpText, intFlag, parseFlags, quote, stringFlag, UsageError, type FlagSpecs, type ParsedFlags } from './args.js';
import { runDemo } from './demo.js';
import { skeinInvocation } from './invocation.js';

const brokerCountMax = 7;

const flags: FlagSpecs = {
  'broker-count': { type: 'string', value: 'N', help: 'how many brokers', default: '3' },
  // The first spelling, kept working for scripts written against it: everywhere else --brokers lists addresses.
  brokers: { type: 'string', hidden: true, help: 'deprecated: --broker-count' },
  port: { type: 'string', value: 'PORT', help: 'first broker port; the others follow', default: '9092' },
  data: { type: 'string', value: 'DIR', help: 'data directory (one subdirectory per broker)', default: '$TMPDIR/skein-dev-PORT' },
  fresh: { type: 'boolean', help: 'delete the data directory first' },
  demo: { type: 'boolean', help: 'also run a producer and a push consumer, showing live throughput' },
  'tick-ms': { type: 'string', value: 'MS', help: 'Raft tick of every broker', default: '100' },
};

const usage = 'skein dev [--broker-count 3] [--port 9092] [--data DIR] [--fresh] [--demo]';

/**
 * A local cluster on loopback: real broker processes (this same program run
 * as `skein broker`), an embedded configuration, and a line on how to
 * connect. Ctrl-C stops every broker gracefully.
 */
export async function devCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, flags);
  if (boolFlag(parsed, 'help')) {
    process.stdout.write(helpText(usage, 'Runs a local cluster until Ctrl-C.', flags));
    return 0;
  }
  const count = brokerCount(parsed);
  const port = intFlag(parsed, 'port', { min: 1, max: 65_535 - brokerCountMax }) ?? 9092;
  const tickMs = intFlag(parsed, 'tick-ms', { min: 1, max: 10_000 }) ?? 100;
  const dataDir = stringFlag(parsed, 'data') ?? join(tmpdir(), `skein-dev-${port}`);
  if (boolFlag(parsed, 'fresh')) rmSync(dataDir, { recursive: true, force: true });
  const addresses = Array.from({ length: count }, (_, i) => `127.0.0.1:${port + i}`);
  const peers = addresses.map((a, i) => `${i + 1}@${a}`).join(',');
  const script = process.argv[1];
  if (script === undefined) throw new Error('cannot find the skein script to start brokers with');

  // The local brokers authenticate their peer links like a real cluster's, with a secret made for this run.
  const env = { ...process.env, SKEIN_PEER_SECRET: process.env.SKEIN_PEER_SECRET || randomBytes(24).toString('base64url') };
  const children = addresses.map((address, i) => {
    const id = i + 1;
    const child = spawn(process.execPath, [script, 'broker', '--id', String(id), '--listen', address, '--data', join(dataDir, `broker-${id}`), '--peers', peers, '--tick-ms', String(tickMs)], {
      // The IPC channel tells a broker that this command has ended, even by SIGKILL (broker-command.ts).
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env,
      // A process group of its own: Ctrl-C in a terminal reaches this command alone, which stops the demo and then
      // the brokers. Were the brokers in the terminal's group they would stop first, and the demo's last sends wait on them.
      detached: true,
      windowsHide: true,
    });
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream! }).on('line', (line) => output.log(`[broker ${id}] ${line}`));
    }
    return child;
  });
  const stopped = new AbortController();
  const exits = children.map(
    (child, i) =>
      new Promise<number>((resolve) =>
        child.on('exit', (code, signal) => {
          if (!stopped.signal.aborted) output.log(`[broker ${i + 1}] exited unexpectedly (${signal ?? code})`);
          resolve(code ?? 1);
        }),
      ),
  );
  const stop = (): void => stopped.abort();
  // A closed terminal stops the cluster as Ctrl-C does, rather than leaving its brokers behind.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, stop);

  process.stdout.write(
    `skein dev: ${count} broker${count === 1 ? '' : 's'} on ${addresses.join(', ')} (data in ${dataDir})\n` +
      `connect:   new Skein({ brokers: ${JSON.stringify(addresses)} })\n` +
      `           SKEIN_BROKERS=${addresses.join(',')} ${skeinInvocation()} topic list\n` +
      `stop:      Ctrl-C\n`,
  );
  let demo: Promise<void> = Promise.resolve();
  if (boolFlag(parsed, 'demo')) {
    const logToStderr = output.log;
    const onLogger = (log: ((line: string) => void) | null): void => void (output.log = log ?? logToStderr);
    demo = runDemo({ brokers: addresses, replicationFactor: Math.min(3, count), signal: stopped.signal, stream: process.stdout, onLogger });
  }
  await Promise.race([new Promise((resolve) => stopped.signal.addEventListener('abort', resolve, { once: true })), Promise.all(exits)]);
  stopped.abort();
  await demo.catch(() => {});
  process.stderr.write('skein dev: stopping brokers\n');
  for (const child of children) terminate(child);
  const codes = await Promise.all(exits);
  return codes.every((code) => code === 0) ? 0 : 1;
}

/** Where broker output goes: straight to stderr, or above the demo's redrawn line while it runs. */
const output = { log: (line: string): void => void process.stderr.write(`${line}\n`) };

/** --broker-count, or the deprecated --brokers N with a notice; an address list there is a mistake worth explaining. */
function brokerCount(parsed: ParsedFlags): number {
  const count = intFlag(parsed, 'broker-count', { min: 1, max: brokerCountMax });
  const old = stringFlag(parsed, 'brokers');
  if (old === undefined) return count ?? 3;
  if (count !== undefined) throw new UsageError('--brokers is the old name of --broker-count; give one of them');
  if (!/^\s*\d+\s*$/.test(old)) throw new UsageError(`--brokers ${quote(old)}: skein dev starts its own brokers: --broker-count N says how many, --port where they listen`);
  const value = intFlag(parsed, 'brokers', { min: 1, max: brokerCountMax })!;
  process.stderr.write(`skein dev: --brokers ${value} is deprecated: use --broker-count ${value} (elsewhere --brokers lists addresses)\n`);
  return value;
}

function terminate(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
}
