import { expect } from 'vitest';
import { defineTopic, serdes, Skein } from '../../../sdk/index.js';
import type { Prng } from '../../../transport/core/prng.js';
import { coordinatorPartition, groupsTopic } from '../../../transport/protocol/groups.js';
import { groupLimits } from '../../../transport/limits.js';
import { Ledger } from '../../support/ledger.js';
import type { SimProcess } from './clock.js';
import { injectFault } from './faults.js';
import { checkGroupRun, type GroupCheck } from './group-checker.js';
import { SimMember } from './group-member.js';
import { SimCluster } from './sim-cluster.js';

export interface GroupScenarioOptions {
  /** Faults, one after another while the producer writes: half strike brokers, half members. */
  faults?: number;
  members?: number;
}

export interface GroupScenarioOutcome extends GroupCheck {
  faults: string[];
  acknowledged: number;
  commits: number;
  simulatedMs: number;
}

const topic = defineTopic<number, string>('gsim', { value: serdes.cbor<number>(), key: serdes.string() });
const group = 'sim-group';
const partitions = 4;
/** Short, so that expiries, holds and lease ends happen many times in a run. */
const sessionTimeoutMs = 3_000;

/**
 * A consumer group in the simulated cluster: three brokers, an idempotent
 * producer, and members that each run in a process of their own with a push
 * subscription auto-committing what its handler finished. Faults drawn from
 * the seed strike one at a time: the brokers' (cluster/faults.ts, plus a
 * SIGKILL of the broker leading the group's coordinator partition) and the
 * members' (a crash and a restart with or without its instance id, a
 * graceful leave and rejoin, a stall longer or shorter than the session, a
 * member cut off from every broker). Then everything heals, the group
 * consumes to the end, the members leave, and the checker reads their logs
 * (group-checker.ts); committed offsets are also sampled from every replica
 * of the coordinator's partition all along: none may ever go backwards, and
 * at the end the group has committed every partition to its end.
 */
export async function runGroupScenario(seed: number, options: GroupScenarioOptions = {}): Promise<GroupScenarioOutcome> {
  const sim = new SimCluster({ seed });
  const { clock, network } = sim;
  const prng = sim.prng.fork();
  const writerPrng = sim.prng.fork();
  network.conditions = { loss: [0, 0.01, 0.05][prng.int(0, 2)]!, duplicate: prng.chance(0.5) ? 0.01 : 0, minDelayMs: 0.05, maxDelayMs: [0.5, 2, 8][prng.int(0, 2)]! };
  const faults: string[] = [`network ${JSON.stringify(network.conditions)}`];
  const producerProcess: SimProcess = { name: 'client', dead: false };
  const asProducer = <T>(fn: () => T): T => clock.runAs(producerProcess, fn);
  const members = Array.from({ length: options.members ?? 3 }, (_, i) => new SimMember(`member-${i + 1}`, sim, { group, topic, sessionTimeoutMs }));
  let client: Skein | undefined;
  const sampler = watchCommitted(sim);
  try {
    await sim.start();
    client = asProducer(() => new Skein({ brokers: sim.bootstrap, clientId: `sim-${seed}` }));
    const admin = client.admin();
    await clock.settle(asProducer(() => admin.createTopic({ name: topic.name, partitions, replicationFactor: 3 })), 60_000, 'create topic');
    const producer = asProducer(() => client!.producer({ acks: 'all', lingerMs: prng.int(0, 5) }));
    const ledger = new Ledger(topic);
    for (const member of members) member.start(prng.chance(0.5) ? `${member.name}-static` : null);
    let writing = true;
    const writer = asProducer(() => ledger.writeWhile(producer, { prng: writerPrng, keepWriting: () => writing, keys: 16, pauseMs: [20, 60] }));
    try {
      for (let k = 0; k < (options.faults ?? 6); k++) {
        await clock.advance(prng.int(500, 2_500));
        faults.push(k % 2 === 0 ? await memberFault(sim, members, prng) : await brokerFault(sim, prng));
      }
      await clock.advance(2_000);
    } finally {
      writing = false;
    }
    const label = `seed ${seed} (${faults.join('; ')}): `;
    await clock.settle(writer, 180_000, `${label}writer`);
    await clock.settle(asProducer(() => producer.flush()), 60_000, `${label}flush`);
    expect(ledger.failures, label).toEqual([]);
    // Everything heals: every member runs again, and the group must consume to the end.
    for (const member of members) {
      member.resume();
      if (!member.running) member.start(null);
    }
    const processedValues = (): Set<number> => new Set(members.flatMap((m) => m.stints.flatMap((s) => s.processed.map((r) => r.value))));
    for (let waitedMs = 0; processedValues().size < ledger.acked.size && waitedMs < 120_000; waitedMs += 250) await clock.advance(250);
    for (const member of members) await member.close();
    sampler.stop();
    expect(clock.uncaught, label).toEqual([]);
    expect(members.flatMap((m) => m.failures), `${label}members failed`).toEqual([]);
    const commits = members.flatMap((m) => m.commits);
    const check = checkGroupRun({ stints: members.flatMap((m) => m.stints), commits, acked: ledger.acked });
    const ends = Array.from({ length: partitions }, (_, p) => 1 + Math.max(-1, ...[...ledger.acked.values()].filter((a) => a.partition === p).map((a) => a.offset)));
    check.violations.push(...members.flatMap((m) => m.violations), ...sampler.violations, ...(await finalOffsets(sim, ends, commits)));
    return { ...check, faults, acknowledged: ledger.acked.size, commits: commits.length, simulatedMs: clock.nowMs };
  } finally {
    sampler.stop();
    for (const member of members) member.crash();
    if (client !== undefined) await clock.settle(asProducer(() => client!.close()), 30_000, 'client close').catch(() => {});
    sim.close();
  }
}

async function memberFault(sim: SimCluster, members: readonly SimMember[], prng: Prng): Promise<string> {
  const { clock, network } = sim;
  const member = members[prng.int(0, members.length - 1)]!;
  const startMs = Math.round(clock.nowMs);
  const staticId = prng.chance(0.5) ? `${member.name}-static` : null;
  const as = staticId === null ? 'without an instance id' : `as ${staticId}`;
  switch (prng.int(0, 5)) {
    case 0: {
      const downMs = prng.int(200, 2 * sessionTimeoutMs);
      member.crash();
      await clock.advance(downMs);
      member.start(staticId);
      return `${startMs} ms: ${member.name} crashed, restarted ${as} after ${downMs} ms`;
    }
    case 1: {
      const awayMs = prng.int(100, 3_000);
      await member.close();
      await clock.advance(awayMs);
      member.start(staticId);
      return `${startMs} ms: ${member.name} left gracefully, rejoined ${as} after ${awayMs} ms`;
    }
    case 2:
    case 3: {
      // Half the stalls outlast the session: the member is expelled while it cannot know, and must stop at its lease end.
      const stallMs = prng.chance(0.5) ? prng.int(sessionTimeoutMs + 200, 3 * sessionTimeoutMs) : prng.int(200, sessionTimeoutMs - 500);
      member.pause();
      await clock.advance(stallMs);
      member.resume();
      return `${startMs} ms: ${member.name} stalled (SIGSTOP) for ${stallMs} ms`;
    }
    case 4: {
      // Cut off from its coordinator only: it can still fetch from the other brokers, and must stop at its lease end.
      const id = coordinatorOf(sim);
      if (id === undefined) return `${startMs} ms: no coordinator to cut ${member.name} off from`;
      const cutMs = prng.int(500, 3 * sessionTimeoutMs);
      network.cut(member.name, SimCluster.processName(id));
      await clock.advance(cutMs);
      network.heal(member.name, SimCluster.processName(id));
      return `${startMs} ms: ${member.name} cut off from broker ${id}, the group's coordinator, for ${cutMs} ms`;
    }
    default: {
      const cutMs = prng.chance(0.5) ? prng.int(sessionTimeoutMs + 200, 3 * sessionTimeoutMs) : prng.int(200, sessionTimeoutMs);
      for (let id = 1; id <= sim.size; id++) network.cut(member.name, SimCluster.processName(id));
      await clock.advance(cutMs);
      for (let id = 1; id <= sim.size; id++) network.heal(member.name, SimCluster.processName(id));
      return `${startMs} ms: ${member.name} cut off from every broker for ${cutMs} ms`;
    }
  }
}

/** One of the cluster faults (cluster/faults.ts), or, one time in three, a SIGKILL of the broker leading the group's coordinator. */
async function brokerFault(sim: SimCluster, prng: Prng): Promise<string> {
  if (!prng.chance(1 / 3)) return (await injectFault(sim, prng)).text;
  const startMs = Math.round(sim.clock.nowMs);
  const id = coordinatorOf(sim);
  if (id === undefined) return `${startMs} ms: no coordinator to kill (no leader of the group's ${groupsTopic} partition)`;
  const downMs = prng.int(100, 5_000);
  sim.kill(id);
  await sim.clock.advance(downMs);
  await sim.startBroker(id);
  return `${startMs} ms: SIGKILL of broker ${id}, the group's coordinator, restarted after ${downMs} ms`;
}

/** The broker leading the group's coordinator partition now, if one does. */
function coordinatorOf(sim: SimCluster): number | undefined {
  const partition = coordinatorPartition(group, groupLimits.coordinatorPartitionsDefault);
  return Array.from({ length: sim.size }, (_, i) => i + 1).find((b) => sim.replicasOf(b, groupsTopic).get(partition)?.isLeader() === true);
}

/** What the scenario reads of a running broker's groups (private fields: one cast, here). */
interface GroupInternals {
  groups: { logs: Map<number, { shard: { group(name: string): { offsets: Map<string, { partition: number; offset: number }> } | undefined } }>; coordinators: Map<number, unknown> };
}

function groupsOf(sim: SimCluster, id: number): GroupInternals['groups'] | undefined {
  return ((sim as unknown as { running: Map<number, GroupInternals> }).running.get(id))?.groups;
}

/**
 * Samples, every 50 ms of simulated time, the committed offsets of the group
 * on every replica of its coordinator partition: each replica applies the
 * log in order, so what one holds may never go backwards (no reset runs here).
 */
function watchCommitted(sim: SimCluster): { violations: string[]; stop(): void } {
  const partition = coordinatorPartition(group, groupLimits.coordinatorPartitionsDefault);
  const last = new WeakMap<object, Map<number, number>>();
  const violations: string[] = [];
  const stop = sim.clock.every(50, () => {
    for (let id = 1; id <= sim.size; id++) {
      const log = groupsOf(sim, id)?.logs.get(partition);
      const offsets = log?.shard.group(group)?.offsets;
      if (log === undefined || offsets === undefined) continue;
      const seen = last.get(log) ?? new Map<number, number>();
      last.set(log, seen);
      for (const stored of offsets.values()) {
        const before = seen.get(stored.partition) ?? 0;
        if (stored.offset < before && violations.length < 20) violations.push(`broker ${id}: committed offset of partition ${stored.partition} went back from ${before} to ${stored.offset} at ${sim.clock.nowMs} ms`);
        seen.set(stored.partition, Math.max(before, stored.offset));
      }
    }
  });
  return { violations, stop };
}

/** After the members left: the coordinator holds, for each partition, its end (everything processed, committed on leaving), and no acknowledged commit above it. */
async function finalOffsets(sim: SimCluster, ends: readonly number[], commits: ReadonlyArray<{ partition: number; offset: number }>): Promise<string[]> {
  const partition = coordinatorPartition(group, groupLimits.coordinatorPartitionsDefault);
  const id = Array.from({ length: sim.size }, (_, i) => i + 1).find((b) => groupsOf(sim, b)?.coordinators.has(partition) === true);
  if (id === undefined) return ['no coordinator at the end of the run'];
  const offsets = groupsOf(sim, id)!.logs.get(partition)!.shard.group(group)?.offsets;
  const stored = new Map([...(offsets?.values() ?? [])].map((o) => [o.partition, o.offset]));
  const out: string[] = [];
  for (let p = 0; p < ends.length; p++) {
    const acked = Math.max(0, ...commits.filter((c) => c.partition === p).map((c) => c.offset));
    if ((stored.get(p) ?? 0) < acked) out.push(`partition ${p}: the coordinator holds ${stored.get(p) ?? 'no offset'}, below the ${acked} it acknowledged (a lost commit)`);
    if ((stored.get(p) ?? 0) !== ends[p]) out.push(`partition ${p}: committed ${stored.get(p) ?? 'nothing'} after every member finished and left, not its end ${ends[p]}`);
  }
  return out;
}
