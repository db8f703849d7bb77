/**
 * npm run bench:groups — consumer groups against the plain consumer, with
 * real broker processes (three, R3, broker default timing):
 *
 * - throughput: the same topic (6 partitions, --records records of 100 B)
 *   read whole by one plain consumer, by a group of one member and by a group
 *   of --members members (a fresh group each time, so from the earliest
 *   record), in alternating order, --runs times; records/s from the first
 *   record to the last, and the ratio of each group to the plain consumer of
 *   the same round, and this process's CPU time per record. A group's
 *   members share the partitions before they read (--members must divide 6);
 *   the time from creating them to their first record (joining, assignment)
 *   is printed apart.
 * - rebalance: a group of two members owning the six partitions; a third
 *   joins (time until it owns its share and the three hold all six), then
 *   one leaves gracefully (time from close() until the two others hold all
 *   six), --moves times. Medians.
 * - kills: a member process SIGKILLed, and the broker leading a group's
 *   coordinator SIGKILLed, --kills times each (groups-faults.ts).
 * - commits: commits/s of one coordinator and an acks-all producer's rate
 *   while they run, as a ratio of its rate alone (groups-faults.ts).
 *
 * --parts picks some of them (comma-separated), to split a long run.
 *
 *   npm run bench:groups -- [--runs 5] [--records 1000000] [--members 3] [--moves 7] [--kills 5]
 *     [--commit-groups 16] [--commit-seconds 3] [--commit-rounds 3] [--parts throughput,moves,kills,commits]
 */
import { parseArgs } from 'node:util';
import { Skein } from '../../sdk/index.js';
import { groupLimits } from '../../transport/limits.js';
import { BrokerProcesses } from '../integration/support/processes.js';
import { bundleForChild } from '../support/bundle.js';
import { bytesTopic, commitRate, coordinatorKill, memberKill, owned, until } from './groups-faults.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    records: { type: 'string', default: '1000000' },
    members: { type: 'string', default: '3' },
    moves: { type: 'string', default: '7' },
    kills: { type: 'string', default: '5' },
    'commit-groups': { type: 'string', default: '16' },
    'commit-seconds': { type: 'string', default: '3' },
    'commit-rounds': { type: 'string', default: '3' },
    parts: { type: 'string', default: 'throughput,moves,kills,commits' },
  },
});
const runs = Number(values.runs);
const records = Number(values.records);
const members = Number(values.members);
const moves = Number(values.moves);
const kills = Number(values.kills);
const commitGroups = Number(values['commit-groups']);
const commitSeconds = Number(values['commit-seconds']);
const commitRounds = Number(values['commit-rounds']);
const parts = new Set(values.parts.split(','));
const partitions = 6;
const topic = bytesTopic('bench-groups');
const commitTopic = bytesTopic('bench-groups-commits');

function progress(line: string): void {
  process.stderr.write(`[bench:groups] ${line}\n`);
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function fill(skein: Skein): Promise<void> {
  const producer = skein.producer({ acks: 'all', lingerMs: 5 });
  const value = new Uint8Array(100);
  for (let sent = 0; sent < records; sent += 1000) {
    await producer.send({ topic, messages: Array.from({ length: 1000 }, (_, i) => ({ value, partition: (sent + i) % partitions })) });
  }
  await producer.close();
}

interface Reading {
  /** Records per second from the first record to the last. */
  rate: number;
  /** From creating the consumer(s) to the first record. */
  startMs: number;
  /** This process's CPU time (user and system) per record, from the first record to the last. */
  cpuUs: number;
}

/** Reads the whole topic with `consumers` (each fetch loop on its own), timing it. */
async function readAll(consumers: { fetch(options: { recordsMax: number; waitMsMax: number }): Promise<unknown[]> }[], createdAt: number): Promise<Reading> {
  let read = 0;
  let firstAt = 0;
  let firstCpu = process.cpuUsage();
  await Promise.all(
    consumers.map(async (consumer) => {
      while (read < records) {
        const batch = await consumer.fetch({ recordsMax: 1000, waitMsMax: 50 });
        if (batch.length > 0 && firstAt === 0) {
          firstAt = performance.now();
          firstCpu = process.cpuUsage();
        }
        read += batch.length;
      }
    }),
  );
  const endAt = performance.now();
  const cpu = process.cpuUsage(firstCpu);
  return { rate: records / ((endAt - firstAt) / 1000), startMs: firstAt - createdAt, cpuUs: (cpu.user + cpu.system) / records };
}

async function plain(skein: Skein): Promise<Reading> {
  const createdAt = performance.now();
  const consumer = skein.consumer({ topic, from: 'earliest' });
  try {
    return await readAll([consumer], createdAt);
  } finally {
    await consumer.close();
  }
}

let groupNumber = 0;

async function group(clients: Skein[], size: number): Promise<Reading> {
  const name = `bench-${++groupNumber}`;
  const createdAt = performance.now();
  const consumers = clients.slice(0, size).map((client) => client.consumer({ group: name, topic, from: 'earliest' }));
  try {
    // Steady state: the members share the partitions before the first read (joining is timed apart).
    await until('the members to share the partitions', () => consumers.every((c) => c.assignment().length === partitions / size));
    return await readAll(consumers, createdAt);
  } finally {
    await Promise.all(consumers.map((c) => c.close()));
  }
}

/** A third member joins a group of two, then one leaves: how long until the partitions settle each time. */
async function rebalance(clients: Skein[]): Promise<{ joinMs: number; leaveMs: number }> {
  const name = `bench-moves-${++groupNumber}`;
  const pair = [clients[0]!.consumer({ group: name, topic }), clients[1]!.consumer({ group: name, topic })];
  await until('the pair to share the partitions', () => owned(pair) === partitions && pair.every((c) => c.assignment().length === partitions / 2));
  const joinAt = performance.now();
  const third = clients[2]!.consumer({ group: name, topic });
  const all = [...pair, third];
  await until('the third member to own its share', () => owned(all) === partitions && all.every((c) => c.assignment().length === partitions / 3));
  const joinMs = performance.now() - joinAt;
  const leaveAt = performance.now();
  const leaving = pair[0]!.close();
  const rest = [pair[1]!, third];
  await until('the two left to hold every partition', () => owned(rest) === partitions);
  const leaveMs = performance.now() - leaveAt;
  await leaving;
  await Promise.all(rest.map((c) => c.close()));
  return { joinMs, leaveMs };
}

const cli = await bundleForChild('broker/cli/main.ts', 'cli-bench-groups');
const cluster = new BrokerProcesses(cli, { size: 3 });
const clients: Skein[] = [];
const k = (n: number): string => `${(n / 1000).toFixed(0)}k/s`;
const ms = (xs: number[]): string => `${median(xs).toFixed(0)} ms (longest ${Math.max(...xs).toFixed(0)} ms; ${xs.map((x) => x.toFixed(0)).join(', ')})`;

async function throughput(): Promise<void> {
  progress(`writing ${records} records of 100 B over ${partitions} partitions`);
  await fill(clients[0]!);
  // A first read of everything warms the brokers' caches and the JIT for every kind alike.
  await plain(clients[0]!);
  const ratios = { one: [] as number[], many: [] as number[] };
  const rates = { plain: [] as number[], one: [] as number[], many: [] as number[] };
  const starts = { one: [] as number[], many: [] as number[] };
  const cpus = { plain: [] as number[], one: [] as number[], many: [] as number[] };
  for (let run = 0; run < runs; run++) {
    const kinds = run % 2 === 0 ? (['plain', 'one', 'many'] as const) : (['many', 'one', 'plain'] as const);
    const round: Record<string, Reading> = {};
    for (const kind of kinds) round[kind] = kind === 'plain' ? await plain(clients[0]!) : await group(clients, kind === 'one' ? 1 : members);
    for (const kind of ['plain', 'one', 'many'] as const) {
      rates[kind].push(round[kind]!.rate);
      cpus[kind].push(round[kind]!.cpuUs);
    }
    for (const kind of ['one', 'many'] as const) {
      ratios[kind].push(round[kind]!.rate / round.plain!.rate);
      starts[kind].push(round[kind]!.startMs);
    }
    const line = (kind: 'plain' | 'one' | 'many'): string => `${Math.round(round[kind]!.rate)}/s (${round[kind]!.cpuUs.toFixed(2)} µs CPU/record)`;
    progress(`run ${run + 1}: plain ${line('plain')}, group of 1 ${line('one')}, group of ${members} ${line('many')}`);
  }
  const cpu = (kind: 'plain' | 'one' | 'many'): string => `${median(cpus[kind]).toFixed(2)} µs CPU/record`;
  const ratioLine = (kind: 'one' | 'many'): string => `${k(median(rates[kind]))}  ratio ${median(ratios[kind]).toFixed(2)} (runs ${ratios[kind].map((r) => r.toFixed(2)).join(', ')})  ${cpu(kind)}  (join to first record ${median(starts[kind]).toFixed(0)} ms)`;
  console.log(`consumption of ${records} records (medians of ${runs} runs):`);
  console.log(`  plain consumer           ${k(median(rates.plain))}  ${cpu('plain')}`);
  console.log(`  group of 1               ${ratioLine('one')}`);
  console.log(`  group of ${members}               ${ratioLine('many')}`);
}

async function moving(): Promise<void> {
  const joins: number[] = [];
  const leaves: number[] = [];
  for (let move = 0; move < moves; move++) {
    const { joinMs, leaveMs } = await rebalance(clients);
    joins.push(joinMs);
    leaves.push(leaveMs);
    progress(`move ${move + 1}: join ${joinMs.toFixed(0)} ms, leave ${leaveMs.toFixed(0)} ms`);
  }
  console.log(`rebalance (medians of ${moves}):`);
  console.log(`  a third member joins      ${ms(joins)}`);
  console.log(`  a member leaves           ${ms(leaves)}`);
}

async function killing(): Promise<void> {
  const members: number[] = [];
  const coordinators: number[] = [];
  for (let run = 0; run < kills; run++) {
    members.push(await memberKill(cli, cluster, clients, topic, partitions));
    coordinators.push(await coordinatorKill(cluster, clients[0]!, commitTopic));
    progress(`kill ${run + 1}: a member's partitions moved after ${members.at(-1)!.toFixed(0)} ms, commits resumed ${coordinators.at(-1)!.toFixed(0)} ms after the coordinator's broker`);
  }
  console.log(`faults (medians of ${kills}; session timeout ${groupLimits.sessionTimeoutMsDefault} ms):`);
  console.log(`  a member SIGKILLed: its partitions held by the others after  ${ms(members)}`);
  console.log(`  the coordinator's broker SIGKILLed: next commit after         ${ms(coordinators)}`);
}

async function committing(): Promise<void> {
  const f = await commitRate(clients, topic, commitTopic, commitGroups, commitSeconds, commitRounds, progress);
  const ratios = f.produceWithCommits.map((rate, i) => rate / f.produceAlone[i]!);
  console.log(`commits (${commitGroups} groups on one coordinator, one commit at a time each; medians of ${commitRounds} rounds of ${commitSeconds} s):`);
  console.log(`  ${Math.round(median(f.commitsPerSecond))} commits/s (rounds ${f.commitsPerSecond.map((r) => Math.round(r)).join(', ')})`);
  console.log(`  acks-all producer ${k(median(f.produceWithCommits))} while committing, ${k(median(f.produceAlone))} alone: ratio ${median(ratios).toFixed(2)} (rounds ${ratios.map((r) => r.toFixed(2)).join(', ')})`);
}

try {
  await cluster.startAll();
  for (let i = 0; i < Math.max(members, 3); i++) clients.push(new Skein({ brokers: cluster.bootstrap, clientId: `bench-groups-${i}` }));
  await clients[0]!.admin().createTopic({ name: topic.name, partitions, replicationFactor: 3 });
  // The commit figures commit offsets of a small topic of their own: their members need not read the large one.
  await clients[0]!.admin().createTopic({ name: commitTopic.name, partitions: 1, replicationFactor: 3 });
  const producer = clients[0]!.producer({ acks: 'all' });
  await producer.send({ topic: commitTopic, messages: Array.from({ length: 10 }, () => ({ value: new Uint8Array(10) })) });
  await producer.close();
  if (parts.has('throughput')) await throughput();
  if (parts.has('moves')) await moving();
  if (parts.has('kills')) await killing();
  if (parts.has('commits')) await committing();
} finally {
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
  await cluster.close();
}
