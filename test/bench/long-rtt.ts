import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { bundleForChild } from '../support/bundle.js';
import { projectRoot } from '../support/root.js';
import { BrokerProcesses } from '../integration/support/processes.js';
import { median } from './support/alternating-produce.js';

/**
 * npm run bench:long-rtt — one client's produce throughput to one broker on a
 * long path (the broker delays what it sends and receives by half the round
 * trip: `--loss delay=`), for the broker as built here, the broker with its
 * clients unpaced (`--client-pace-bytes 0`, what the path allows), and
 * another revision's broker (--before, main by default). A fixed pace caps a
 * client at the pace per round trip; the pace that follows the path should
 * come near the unpaced one. Rounds alternate the brokers; medians.
 *
 *   npm run bench:long-rtt -- [--rtt-ms 50] [--rounds 3] [--messages 2000] [--size 16000] [--before main]
 */
const { values } = parseArgs({
  options: {
    'rtt-ms': { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
    messages: { type: 'string', default: '2000' },
    size: { type: 'string', default: '16000' },
    before: { type: 'string', default: 'main' },
  },
});
const rttMs = Number(values['rtt-ms']);
const size = Number(values.size);
const root = projectRoot();

const scratch = mkdtempSync(join(tmpdir(), 'skein-bench-long-rtt-before-'));
try {
  execFileSync('sh', ['-c', `git archive ${JSON.stringify(values.before)} | tar -x -C ${JSON.stringify(scratch)}`], { cwd: root });
  const here = await bundleForChild('broker/cli/main.ts', 'cli-long-rtt');
  // Bundled in this tree's .test-build/, so its dependencies resolve from this tree's node_modules.
  const before = await bundleForChild(join(scratch, 'broker/cli/main.ts'), 'cli-long-rtt-before');
  const loss = ['--loss', `delay=${rttMs / 2}ms`];
  const variants: Record<string, { cli: string; args: string[] }> = {
    [`before (${values.before})`]: { cli: before, args: loss },
    'this tree': { cli: here, args: loss },
    'this tree, unpaced (--client-pace-bytes 0)': { cli: here, args: [...loss, '--client-pace-bytes', '0'] },
  };
  const names = Object.keys(variants);
  const rates = new Map(names.map((name) => [name, [] as number[]]));
  console.log(`one client, one broker, ${rttMs} ms round trip, ${values.messages} records of ${size} B a round, acks leader, ${values.rounds} rounds`);
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const name of round % 2 === 0 ? names : [...names].reverse()) {
      const { cli, args } = variants[name]!;
      const broker = new BrokerProcesses(cli, { size: 1, tickMs: 100, args });
      try {
        await broker.startAll();
        const bench = [here, 'bench', 'produce', '--brokers', broker.bootstrap.join(','), '--topic', 'long', '--messages', values.messages, '--size', String(size)];
        const settings = ['--partitions', '1', '--replication', '1', '--acks', 'leader', '--flush', 'interval:1000', '--batch-bytes-max', String(1024 * 1024), '--json'];
        const env = { ...process.env };
        delete env.SKEIN_LOSS;
        const { stdout } = await promisify(execFile)(process.execPath, [...bench, ...settings], { env, maxBuffer: 1 << 24, timeout: 600_000 });
        const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'))!;
        const { msgsPerSec } = JSON.parse(line) as { msgsPerSec: number };
        rates.get(name)!.push((msgsPerSec * size) / 1e6);
        console.error(`round ${round + 1}, ${name}: ${((msgsPerSec * size) / 1e6).toFixed(1)} MB/s`);
      } finally {
        await broker.close();
      }
    }
  }
  const baseline = median(rates.get(names[0]!)!);
  console.log('| broker | MB/s (median) | rounds | x before |');
  console.log('|---|---|---|---|');
  for (const name of names) {
    const rs = rates.get(name)!;
    console.log(`| ${name} | ${median(rs).toFixed(1)} | ${rs.map((r) => r.toFixed(1)).join(', ')} | ${(median(rs) / baseline).toFixed(2)}x |`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
