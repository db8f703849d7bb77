/**
 * The figures of npm run bench:groups that need faults or load, against the
 * broker processes of groups.ts:
 *
 * - memberKill: a `skein consume --group` process owning two of six
 *   partitions is SIGKILLed; time until the two members left hold all six
 *   (the coordinator waits out the session timeout, then the lease).
 * - coordinatorKill: a member commits one offset after another; the broker
 *   leading its group's coordinator partition is SIGKILLed (and restarted
 *   after); time from the kill to the next commit acknowledged.
 * - commitRate: members of `groups` groups hashed to one coordinator
 *   partition commit as fast as each can, one commit at a time per member,
 *   for `seconds`: commits/s. Then an acks-all producer's rate alone and
 *   while they commit, alternated per round: the ratio.
 */
import { spawn } from 'node:child_process';
import { defineTopic, serdes, type GroupConsumer, type Skein } from '../../sdk/index.js';
import { groupLimits } from '../../transport/limits.js';
import { coordinatorPartition } from '../../transport/protocol/groups.js';
import type { BrokerProcesses } from '../integration/support/processes.js';

type Topic = ReturnType<typeof defineTopic<Uint8Array, Uint8Array>>;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`bench:groups: timed out waiting for ${what}`);
    await sleep(2);
  }
}

export const owned = (members: { assignment(): unknown[] }[]): number => members.reduce((n, m) => n + m.assignment().length, 0);

let groupNumber = 0;

/** A skein consume --group process joins two members owning six partitions, and is SIGKILLed once it owns its two. */
export async function memberKill(cli: string, cluster: BrokerProcesses, clients: Skein[], topic: Topic, partitions: number): Promise<number> {
  const name = `bench-kill-${++groupNumber}`;
  const pair = [clients[0]!.consumer({ group: name, topic }), clients[1]!.consumer({ group: name, topic })];
  try {
    await until('the pair to share the partitions', () => owned(pair) === partitions);
    const child = spawn(process.execPath, [cli, 'consume', '--topic', topic.name, '--group', name, '--from', 'latest', '--follow'], {
      stdio: 'ignore',
      env: { ...process.env, SKEIN_BROKERS: cluster.bootstrap.join(',') },
    });
    try {
      await until('the process to own its share', () => pair.every((m) => m.assignment().length === partitions / 3) && owned(pair) === (partitions * 2) / 3);
    } finally {
      child.kill('SIGKILL');
    }
    const killAt = performance.now();
    await until('the pair to hold every partition again', () => owned(pair) === partitions, 120_000);
    return performance.now() - killAt;
  } finally {
    await Promise.all(pair.map((m) => m.close()));
  }
}

/** A member holding something to commit (it fetched a record): the commit call that repeats. */
async function committer(client: Skein, group: string, topic: Topic): Promise<{ member: GroupConsumer<Uint8Array, Uint8Array>; commit: () => Promise<void> }> {
  const member = client.consumer({ group, topic, from: 'earliest' });
  let batch: { partition: number; offset: number }[] = [];
  while (batch.length === 0) batch = await member.fetch({ recordsMax: 1, waitMsMax: 500 });
  const entry = { topic: topic.name, partition: batch[0]!.partition, offset: batch[0]!.offset + 1 };
  return { member, commit: () => member.commit(entry) };
}

/** Commits one after another; the broker leading the group's coordinator is SIGKILLed; the gap until the next acknowledged commit. */
export async function coordinatorKill(cluster: BrokerProcesses, client: Skein, topic: Topic): Promise<number> {
  const name = `bench-coordinator-${++groupNumber}`;
  const { member, commit } = await committer(client, name, topic);
  const acks: number[] = [];
  let stop = false;
  const loop = (async (): Promise<void> => {
    while (!stop) {
      try {
        await commit();
        acks.push(performance.now());
      } catch {
        await sleep(10);
      }
    }
  })();
  let killed: number | undefined;
  try {
    await until('commits to flow', () => acks.length > 20);
    killed = (await client.admin().describeGroup(name)).coordinator.brokerId;
    const killAt = performance.now();
    await cluster.kill(killed);
    await until('a commit after the kill', () => acks.at(-1)! > killAt, 60_000);
    return acks.find((at) => at > killAt)! - killAt;
  } finally {
    stop = true;
    await loop;
    await member.close();
    if (killed !== undefined) {
      await cluster.start(killed);
      // Let the restarted broker catch up before the next run aims at whichever broker leads then.
      await sleep(3000);
    }
  }
}

/** Group names whose coordinator is partition `target` of the groups topic. */
function groupsOn(target: number, count: number): string[] {
  const names: string[] = [];
  for (let i = 0; names.length < count; i++) {
    const name = `bench-commits-${groupNumber}-${i}`;
    if (coordinatorPartition(name, groupLimits.coordinatorPartitionsDefault) === target) names.push(name);
  }
  return names;
}

async function produceFor(client: Skein, topic: Topic, seconds: number): Promise<number> {
  const producer = client.producer({ acks: 'all', lingerMs: 5 });
  const value = new Uint8Array(100);
  const endAt = performance.now() + seconds * 1000;
  let acked = 0;
  const lanes = Array.from({ length: 8 }, async () => {
    while (performance.now() < endAt) {
      await producer.send({ topic, messages: Array.from({ length: 100 }, () => ({ value })) });
      acked += 100;
    }
  });
  const startAt = performance.now();
  await Promise.all(lanes);
  const rate = acked / ((performance.now() - startAt) / 1000);
  await producer.close();
  return rate;
}

export interface CommitFigures {
  commitsPerSecond: number[];
  produceAlone: number[];
  produceWithCommits: number[];
}

/** `rounds` rounds of: produce alone, then commit flat out while producing (commits counted over the same seconds). */
export async function commitRate(clients: Skein[], produceTopic: Topic, commitTopic: Topic, groups: number, seconds: number, rounds: number, progress: (line: string) => void): Promise<CommitFigures> {
  const names = groupsOn(coordinatorPartition(`bench-commits-${++groupNumber}`, groupLimits.coordinatorPartitionsDefault), groups);
  const committers = await Promise.all(names.map((name, i) => committer(clients[i % clients.length]!, name, commitTopic)));
  const figures: CommitFigures = { commitsPerSecond: [], produceAlone: [], produceWithCommits: [] };
  try {
    for (let round = 0; round < rounds; round++) {
      const alone = await produceFor(clients[0]!, produceTopic, seconds);
      let commits = 0;
      let stop = false;
      const loops = committers.map(async ({ commit }) => {
        while (!stop) {
          // A commit refused (a coordinator moving, say) is not counted; the bench goes on.
          if (await commit().then(() => true, () => false)) commits++;
        }
      });
      const startAt = performance.now();
      const withCommits = await produceFor(clients[0]!, produceTopic, seconds);
      const rate = commits / ((performance.now() - startAt) / 1000);
      stop = true;
      await Promise.all(loops);
      figures.produceAlone.push(alone);
      figures.produceWithCommits.push(withCommits);
      figures.commitsPerSecond.push(rate);
      progress(`commits round ${round + 1}: ${Math.round(rate)} commits/s from ${groups} groups on one coordinator; produce ${Math.round(alone)}/s alone, ${Math.round(withCommits)}/s while committing`);
    }
  } finally {
    await Promise.all(committers.map(({ member }) => member.close()));
  }
  return figures;
}

export const bytesTopic = (name: string): Topic => defineTopic(name, { value: serdes.bytes(), key: serdes.bytes() });
