import { expect } from 'vitest';
import { defineTopic, serdes, Skein } from '../../../sdk/index.js';
import { Ledger } from '../../support/ledger.js';
import type { SimProcess } from './clock.js';
import { injectFault } from './faults.js';
import { SimCluster } from './sim-cluster.js';

export interface MembershipOutcome {
  /** What happened, in order: a failure message quotes it. */
  events: string[];
  acknowledged: number;
  simulatedMs: number;
}

const topic = defineTopic<number, string>('sim', { value: serdes.cbor<number>(), key: serdes.string() });

/**
 * One seeded run of the cluster changing shape under load: three founding
 * brokers and an idempotent producer writing with acks 'all' over a lossy
 * network; a fourth broker joins; a partition moves onto it (the new
 * replica SIGKILLed mid catch-up in half the runs) while an ordinary fault
 * (a crash, a pause, a partition, a loss burst) strikes; then a founding
 * broker is decommissioned while another fault strikes. Once everything
 * heals: every acknowledged record reads back once, at its offset, in
 * order; the decommissioned broker is gone and holds no replica; no move
 * is left; and every running broker hosts exactly the replicas the
 * metadata assigns it.
 */
export async function runMembershipScenario(seed: number): Promise<MembershipOutcome> {
  const sim = new SimCluster({ seed });
  const { clock, network } = sim;
  const prng = sim.prng.fork();
  const writerPrng = sim.prng.fork();
  network.conditions = { loss: [0, 0.01, 0.05][prng.int(0, 2)]!, duplicate: prng.chance(0.5) ? 0.01 : 0, minDelayMs: 0.05, maxDelayMs: [0.5, 2][prng.int(0, 1)]! };
  const events: string[] = [`network ${JSON.stringify(network.conditions)}`];
  const clientProcess: SimProcess = { name: 'client', dead: false };
  const asClient = <T>(fn: () => T): T => clock.runAs(clientProcess, fn);
  const ask = <T>(what: string, fn: () => Promise<T>, limitMs = 60_000): Promise<T> => clock.settle(asClient(fn), limitMs, `seed ${seed} (${events.join('; ')}): ${what}`);
  const waitFor = async (what: string, probe: () => Promise<boolean>, limitMs: number): Promise<void> => {
    for (let waitedMs = 0; !(await ask(what, () => probe().catch(() => false))); waitedMs += 250) {
      if (waitedMs > limitMs) throw new Error(`seed ${seed} (${events.join('; ')}): ${what} did not happen within ${limitMs} ms of simulated time`);
      await clock.advance(250);
    }
  };
  let client: Skein | undefined;
  try {
    await sim.start();
    client = asClient(() => new Skein({ brokers: sim.bootstrap, clientId: `sim-membership-${seed}` }));
    const admin = client.admin();
    await ask('create topic', () => admin.createTopic({ name: 'sim', partitions: 3, replicationFactor: 3 }));
    const producer = asClient(() => client!.producer({ acks: 'all', lingerMs: prng.int(0, 5), maxInFlight: prng.int(1, 5) }));
    const ledger = new Ledger(topic);
    let writing = true;
    const writer = asClient(() => ledger.writeWhile(producer, { prng: writerPrng, keepWriting: () => writing, keys: 7, pauseMs: [1, 10] }));
    try {
      await clock.advance(prng.int(200, 1_000));
      await sim.join(4);
      events.push(`${Math.round(clock.nowMs)} ms: broker 4 joins`);
      await waitFor('broker 4 active', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 4)?.state === 'active', 60_000);

      const partition = prng.int(0, 2);
      const replicas = (await ask('describe', () => admin.describeTopic('sim'))).partitions[partition]!.replicas;
      // Broker 4 takes the place of one replica, the preferred leader's (often a move away from the leader) or another's.
      const replaced = prng.int(0, replicas.length - 1);
      const target = replicas.map((r, i) => (i === replaced ? 4 : r));
      await ask('reassign', () => admin.reassignPartitions([{ topic: 'sim', partition, replicas: target }]));
      events.push(`${Math.round(clock.nowMs)} ms: sim/${partition} ${JSON.stringify(replicas)} → ${JSON.stringify(target)}`);
      if (prng.chance(0.5)) {
        await clock.advance(prng.int(10, 300));
        sim.kill(4);
        const downMs = prng.int(100, 3_000);
        await clock.advance(downMs);
        await sim.startBroker(4);
        events.push(`${Math.round(clock.nowMs)} ms: broker 4 SIGKILLed mid catch-up, back after ${downMs} ms`);
      }
      events.push((await injectFault(sim, prng)).text);
      await waitFor('the move done', async () => (await admin.listReassignments()).moves.length === 0, 120_000);

      const leaving = prng.int(1, 3);
      await ask('decommission', () => admin.decommissionBroker(leaving));
      events.push(`${Math.round(clock.nowMs)} ms: decommission broker ${leaving}`);
      await clock.advance(prng.int(10, 500));
      events.push((await injectFault(sim, prng)).text);
      await waitFor(`broker ${leaving} gone`, async () => (await admin.describeCluster()).brokers.find((b) => b.id === leaving)?.state === 'gone', 180_000);
      await clock.advance(3_000);
    } finally {
      writing = false;
    }
    const label = `seed ${seed} (${events.join('; ')}): `;
    await clock.settle(writer, 180_000, `${label}writer`);
    await clock.settle(asClient(() => producer.flush()), 60_000, `${label}flush`);
    expect(ledger.failures, label).toEqual([]);
    expect(clock.uncaught, label).toEqual([]);
    await ask('read back', () => ledger.expectReadBack(client!, label), 120_000);
    await expectConverged(sim, admin, ask, waitFor, label);
    return { events, acknowledged: ledger.acked.size, simulatedMs: clock.nowMs };
  } finally {
    if (client !== undefined) await clock.settle(asClient(() => client!.close()), 30_000, 'client close').catch(() => {});
    sim.close();
  }
}

/** No move left, and every running broker hosts exactly the replicas of `sim` the metadata assigns it (a gone broker none). */
async function expectConverged(
  sim: SimCluster,
  admin: ReturnType<Skein['admin']>,
  ask: <T>(what: string, fn: () => Promise<T>) => Promise<T>,
  waitFor: (what: string, probe: () => Promise<boolean>, limitMs: number) => Promise<void>,
  label: string,
): Promise<void> {
  const hosting = (): Array<[number, number[]]> => sim.ids.filter((id) => sim.isRunning(id)).map((id) => [id, [...sim.replicasOf(id, 'sim').keys()].sort()]);
  const assigned = async (): Promise<Array<[number, number[]]>> => {
    const partitions = (await admin.describeTopic('sim')).partitions;
    return sim.ids.filter((id) => sim.isRunning(id)).map((id) => [id, partitions.filter((p) => p.replicas.includes(id)).map((p) => p.partition).sort()]);
  };
  // Deleting a replica moved off waits for a metadata read: give it the time a few rounds take.
  await waitFor('replicas hosted where assigned', async () => JSON.stringify(hosting()) === JSON.stringify(await assigned()), 30_000).catch(() => {});
  expect((await ask('list moves', () => admin.listReassignments())).moves, label).toEqual([]);
  expect(hosting(), `${label}replicas hosted per broker`).toEqual(await ask('assignment', assigned));
}
