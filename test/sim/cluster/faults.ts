import type { Prng } from '../../../transport/core/prng.js';
import { SimCluster } from './sim-cluster.js';

/** The faults a scenario draws from, one at a time. */
export const faultKinds = [
  'SIGKILL',
  'graceful restart',
  'stop without handover',
  'pause',
  'minority partition',
  'client cut off',
  'heavy loss',
  'quorum lost',
] as const;

export type FaultKind = (typeof faultKinds)[number];

/**
 * What this simulation asks of each fault once a majority of every partition
 * is healthy. The target is the README's promise (writes resume within 2 s);
 * sweeps still find rare faults past it (issue 10), so each seed's faults
 * over the target are reported, and a test fails at the limit: no fault may
 * be left to the 5 s dead-peer timeout, the silence-based recovery the
 * failover work replaced. Neither holds for a client cut off from a leader
 * that its peers still follow (nothing but the client can tell), so that
 * kind is only reported.
 */
export const stallTargetMs = 2_000;
export const stallLimitMs = 5_000;
export const boundedKinds: ReadonlySet<FaultKind> = new Set(faultKinds.filter((k) => k !== 'client cut off'));

export interface FaultRun {
  kind: FaultKind;
  /** What happened, for the failure message and the sweep's report. */
  text: string;
  startMs: number;
  /** From when a majority of every partition could make progress again (the start, unless the quorum was lost). */
  healthyFromMs: number;
}

/**
 * Injects one fault, lets it last, ends it. Durations follow the table the
 * promise was measured against: restarts after up to 5 s, pauses (SIGSTOP) of
 * up to 10 s, a broker cut off from its peers for up to 15 s or longer than
 * the 30 s proposal timeout, 20–30% loss on every link for up to 20 s, two
 * brokers killed at once.
 */
export async function injectFault(sim: SimCluster, prng: Prng): Promise<FaultRun> {
  const { clock, network } = sim;
  const id = prng.int(1, sim.size);
  const name = SimCluster.processName(id);
  const kind = faultKinds[prng.int(0, faultKinds.length - 1)]!;
  const startMs = Math.round(clock.nowMs);
  const run = (text: string, healthyFromMs = startMs): FaultRun => ({ kind, text: `${startMs} ms: ${text}`, startMs, healthyFromMs });
  switch (kind) {
    case 'SIGKILL': {
      const downMs = prng.int(100, 5_000);
      sim.kill(id);
      await clock.advance(downMs);
      await sim.startBroker(id);
      return run(`SIGKILL broker ${id}, restarted after ${downMs} ms`);
    }
    case 'graceful restart':
    case 'stop without handover': {
      const downMs = prng.int(100, 5_000);
      await sim.stop(id, { handover: kind === 'graceful restart' });
      await clock.advance(downMs);
      await sim.startBroker(id);
      return run(`${kind === 'graceful restart' ? 'graceful stop' : 'stop without handover'} of broker ${id}, restarted after ${downMs} ms`);
    }
    case 'pause': {
      const pausedMs = prng.int(500, 10_000);
      sim.pause(id);
      await clock.advance(pausedMs);
      sim.resume(id);
      return run(`broker ${id} paused (SIGSTOP) for ${pausedMs} ms`);
    }
    case 'minority partition': {
      // One in four outlasts the proposal timeout, so a deposed leader's waiting requests would time out first.
      const cutMs = prng.chance(0.25) ? prng.int(31_000, 40_000) : prng.int(500, 15_000);
      const others = Array.from({ length: sim.size }, (_, i) => SimCluster.processName(i + 1)).filter((n) => n !== name);
      for (const other of others) network.cut(name, other);
      await clock.advance(cutMs);
      network.healAll();
      return run(`broker ${id} cut off from the other brokers (not the client) for ${cutMs} ms`);
    }
    case 'client cut off': {
      const cutMs = prng.int(100, 2_500);
      network.cut(name, 'client');
      await clock.advance(cutMs);
      network.healAll();
      return run(`client cut off from broker ${id} for ${cutMs} ms`);
    }
    case 'heavy loss': {
      const loss = prng.chance(0.5) ? 0.2 : 0.3;
      const lastsMs = prng.int(2_000, 20_000);
      const before = network.conditions.loss;
      network.conditions.loss = loss;
      await clock.advance(lastsMs);
      network.conditions.loss = before;
      return run(`${loss * 100}% loss on every link for ${lastsMs} ms`);
    }
    case 'quorum lost': {
      const other = (id % sim.size) + 1;
      const downMs = prng.int(500, 5_000);
      sim.kill(id);
      sim.kill(other);
      await clock.advance(downMs);
      await sim.startBroker(id);
      const healthyFromMs = Math.round(clock.nowMs);
      await sim.startBroker(other);
      return run(`SIGKILL brokers ${id} and ${other} at once, restarted after ${downMs} ms`, healthyFromMs);
    }
  }
}

/**
 * The longest wait for writes each fault caused: the part of every stall
 * (a stretch with no acknowledgement) that fell between the fault's start
 * and the next fault's, counted from when a majority was healthy again.
 */
export function stallsPerFault(faults: readonly FaultRun[], stalls: ReadonlyArray<{ fromMs: number; toMs: number }>, endMs: number): number[] {
  // A stall is noticed by a 50 ms probe: one that began just before a fault belongs to it.
  const slackMs = 100;
  return faults.map((fault, k) => {
    const until = faults[k + 1]?.startMs ?? endMs;
    let longest = 0;
    for (const { fromMs, toMs } of stalls) {
      if (toMs <= fault.startMs - slackMs || fromMs >= until) continue;
      longest = Math.max(longest, Math.min(toMs, until) - Math.max(fromMs, fault.healthyFromMs));
    }
    return Math.round(longest);
  });
}
