import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BrokerProcesses } from '../../integration/support/processes.js';

/**
 * `skein bench produce` (3 brokers, replication 3, acks 'all', 100 B
 * records, 3 partitions) against one cluster per build of the command, each
 * driven by its own build, in alternating rounds of one run (the order
 * swapped each round): what a client sees of a change to the produce path,
 * with the machine's drift shared by both. Returns records/s per round, per
 * build.
 */
export async function alternatingProduce<B extends string>(clis: Record<B, string>, options: { rounds: number; messages: number }): Promise<Record<B, number[]>> {
  const builds = Object.keys(clis) as B[];
  const clusters = new Map(builds.map((build) => [build, new BrokerProcesses(clis[build], { size: 3, tickMs: 100 })]));
  const rates = Object.fromEntries(builds.map((build) => [build, [] as number[]])) as Record<B, number[]>;
  try {
    for (const cluster of clusters.values()) await cluster.startAll();
    console.log(`skein bench produce: 3 brokers, replication 3, acks all, ${options.messages} x 100 B records a round, ${options.rounds} rounds each, alternating`);
    for (let r = 0; r < options.rounds; r++) {
      // Which build goes first swaps every round: the cluster that just took a round is still settling (flushes,
      // replication's tail) while the other runs, which would otherwise always handicap the second.
      for (const build of r % 2 === 0 ? builds : [...builds].reverse()) {
        const args = [clis[build], 'bench', 'produce', '--brokers', clusters.get(build)!.bootstrap.join(','), '--topic', `round${r}`, '--messages', String(options.messages), '--size', '100', '--replication', '3', '--partitions', '3', '--json'];
        const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 1 << 24, timeout: 300_000 });
        const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'))!;
        rates[build].push((JSON.parse(line) as { msgsPerSec: number }).msgsPerSec);
      }
      console.error(`round ${r + 1}: ${builds.map((build) => `${build} ${Math.round(rates[build].at(-1)!)}`).join(', ')} records/s`);
    }
  } finally {
    for (const cluster of clusters.values()) await cluster.close();
  }
  return rates;
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
