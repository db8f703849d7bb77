import { expect } from 'vitest';
import { defineTopic, serdes, Skein } from '../../../sdk/index.js';
import { Ledger } from '../../support/ledger.js';
import type { SimProcess } from './clock.js';
import { type FaultRun, injectFault, stallsPerFault } from './faults.js';
import { SimCluster } from './sim-cluster.js';

export interface ScenarioOptions {
  /** Faults injected one after another while the producer writes. */
  faults?: number;
}

export interface ScenarioOutcome {
  /** What happened, in order: a failure message quotes it. */
  faults: string[];
  acknowledged: number;
  /** The longest stretch of simulated time, while the producer was writing, in which no send was acknowledged. */
  longestStallMs: number;
  /** Each fault, with the longest stall it caused once a majority was healthy (see stallsPerFault). */
  faultStalls: Array<FaultRun & { stallMs: number }>;
  simulatedMs: number;
  firedTimers: number;
  network: VirtualCounters;
  /** Everything a replay must reproduce exactly: where each acknowledged record went, the faults, the clock. */
  fingerprint: string;
}

type VirtualCounters = SimCluster['network']['counters'];

const topic = defineTopic<number, string>('sim', { value: serdes.cbor<number>(), key: serdes.string() });

/**
 * One seeded run: three brokers, an idempotent producer writing with acks
 * 'all' over a lossy, duplicating, reordering network, and a schedule of
 * faults (SIGKILLs, stops with and without handover, partitions that isolate
 * a broker or cut the client off one, loss bursts). At most one fault at a
 * time, so a majority can always make progress and every send must succeed.
 * Then everything heals and the topic is read back: every acknowledged record
 * exactly once, at the offset it was acknowledged with, in order.
 */
export async function runScenario(seed: number, options: ScenarioOptions = {}): Promise<ScenarioOutcome> {
  const sim = new SimCluster({ seed });
  const { clock, network } = sim;
  const prng = sim.prng.fork();
  // The writer draws from its own generator, so the fault schedule stays the same when the code's timing changes.
  const writerPrng = sim.prng.fork();
  network.conditions = {
    loss: [0, 0.01, 0.05, 0.1][prng.int(0, 3)]!,
    duplicate: prng.chance(0.5) ? 0.01 : 0,
    minDelayMs: 0.05,
    maxDelayMs: [0.5, 2, 8][prng.int(0, 2)]!,
  };
  const faults: string[] = [`network ${JSON.stringify(network.conditions)}`];
  const clientProcess: SimProcess = { name: 'client', dead: false };
  const asClient = <T>(fn: () => T): T => clock.runAs(clientProcess, fn);
  let client: Skein | undefined;
  try {
    await sim.start();
    client = asClient(() => new Skein({ brokers: sim.bootstrap, clientId: `sim-${seed}` }));
    const admin = client.admin();
    await clock.settle(
      asClient(() => admin.createTopic({ name: 'sim', partitions: 3, replicationFactor: 3 })),
      60_000,
      'create topic',
    );
    const producerOptions = { acks: 'all', lingerMs: prng.int(0, 5), inFlightMax: prng.int(1, 5) } as const;
    const producer = asClient(() => client!.producer(producerOptions));
    const ledger = new Ledger(topic);
    // A push consumer rides through every fault too: it must see each record once, in offset order.
    const pushed: Array<{ value: number; partition: number; offset: number }> = [];
    const subscription = asClient(() =>
      client!.subscribe({ topic, from: 'earliest', handler: (record) => void pushed.push({ value: record.value, partition: record.partition, offset: record.offset }) }),
    );
    const stopTrace = process.env.SKEIN_SIM_TRACE
      ? trace(sim, () => {
          const top = [0, 1, 2].map((p) => Math.max(-1, ...[...ledger.acked.values()].filter((a) => a.partition === p).map((a) => a.offset)));
          return `acked ${ledger.acked.size} (top offsets ${top.join('/')}) pushed ${pushed.length} failures ${ledger.failures.length}`;
        })
      : () => {};
    const stall = watchLongestStall(sim, () => ledger.acked.size);
    let writing = true;
    const runs: FaultRun[] = [];
    // A few hundred sends a second: enough that every fault lands mid-write, few enough that a run costs seconds.
    const writer = asClient(() => ledger.writeWhile(producer, { prng: writerPrng, keepWriting: () => writing, keys: 7, pauseMs: [1, 10] }));
    try {
      for (let k = 0; k < (options.faults ?? 6); k++) {
        await clock.advance(prng.int(200, 1_500));
        const fault = await injectFault(sim, prng);
        runs.push(fault);
        faults.push(fault.text);
      }
      // Long enough after the last fault for its stall to end and be measured.
      await clock.advance(3_000);
      for (let waitedMs = 0; stall.stalledForMs() > 100 && waitedMs < 60_000; waitedMs += 100) await clock.advance(100);
    } finally {
      writing = false;
      stall.stop();
    }
    const label = `seed ${seed} (${faults.join('; ')}): `;
    await clock.settle(writer, 180_000, `${label}writer`);
    await clock.settle(asClient(() => producer.flush()), 60_000, `${label}flush`);
    expect(ledger.failures, label).toEqual([]);
    expect(clock.uncaught, label).toEqual([]);
    await clock.settle(
      asClient(() => ledger.expectReadBack(client!, label)),
      120_000,
      `${label}read back`,
    );
    for (let waitedMs = 0; pushed.length < ledger.acked.size && waitedMs < 60_000; waitedMs += 100) await clock.advance(100);
    await clock.settle(asClient(() => subscription.close()), 30_000, `${label}subscription close`);
    stopTrace();
    ledger.expectEachOnce(pushed, `${label}pushed: `);
    const placed = [...ledger.acked].sort((a, b) => a[0] - b[0]).map(([v, at]) => `${v}@${at.partition}/${at.offset}`);
    return {
      faults,
      acknowledged: ledger.acked.size,
      longestStallMs: stall.longestMs(),
      faultStalls: stallsPerFault(runs, stall.stalls, stall.endMs).map((stallMs, k) => ({ ...runs[k]!, stallMs })),
      simulatedMs: clock.nowMs,
      firedTimers: clock.firedTimers,
      network: { ...network.counters },
      fingerprint: JSON.stringify({ placed, faults, nowMs: clock.nowMs, firedTimers: clock.firedTimers, network: network.counters }),
    };
  } finally {
    if (client !== undefined) await clock.settle(asClient(() => client!.close()), 30_000, 'client close').catch(() => {});
    sim.close();
  }
}

/**
 * SKEIN_SIM_TRACE=1: a line every 250 ms of simulated time, to see where a slow run spends its time;
 * SKEIN_SIM_TRACE=raft: each broker's replicas there as p<partition>:<role initial><term>L<leader>c<commit>l<last index>.
 */
function trace(sim: SimCluster, describe: () => string): () => void {
  return sim.clock.every(250, () => {
    const brokers = Array.from({ length: sim.size }, (_, i) => i + 1)
      .map((id) => {
        if (!sim.isRunning(id)) return `${id}:down`;
        if (process.env.SKEIN_SIM_TRACE === 'raft') {
          const groups = [...sim.replicasOf(id, topic.name)].map(([p, replica]) => {
            const s = replica.raft.status() as unknown as { role: string; term: number; leader: number; commit: number; lastIndex: number };
            return `p${p}:${s.role[0]}${s.term}L${s.leader}c${s.commit}l${s.lastIndex}`;
          });
          return `${id}:[${groups.join(' ')}]`;
        }
        const leads = [...sim.replicasOf(id, topic.name)].filter(([, replica]) => replica.isLeader()).map(([p]) => p);
        return `${id}:up leads[${leads.join(',')}]`;
      })
      .join(' ');
    console.log(`[${(sim.clock.nowMs / 1000).toFixed(2)} s] ${describe()} brokers ${brokers} net ${JSON.stringify(sim.network.counters)}`);
  });
}

/** Samples `progress` every 50 ms of simulated time and keeps every stretch without it moving (a stall). */
function watchLongestStall(sim: SimCluster, progress: () => number) {
  let last = progress();
  let since = sim.clock.nowMs;
  const stalls: Array<{ fromMs: number; toMs: number }> = [];
  const watcher = {
    stalls,
    endMs: since,
    longestMs: () => Math.round(Math.max(0, ...stalls.map((s) => s.toMs - s.fromMs))),
    stalledForMs: () => sim.clock.nowMs - since,
    stop: () => {},
  };
  const close = (): void => {
    if (sim.clock.nowMs - since > 50) stalls.push({ fromMs: since, toMs: sim.clock.nowMs });
  };
  const stopEvery = sim.clock.every(50, () => {
    const now = progress();
    if (now === last) return;
    close();
    last = now;
    since = sim.clock.nowMs;
  });
  watcher.stop = () => {
    stopEvery();
    close();
    watcher.endMs = sim.clock.nowMs;
  };
  return watcher;
}
