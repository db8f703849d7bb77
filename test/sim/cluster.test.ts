import { afterAll, describe, expect, it, vi } from 'vitest';
import type { SimHooks } from './cluster/hooks.js';
import './cluster/hooks.js';
import { boundedKinds, type FaultKind, stallLimitMs, stallTargetMs } from './cluster/faults.js';
import { probeBulkTransfer } from './cluster/bulk-transfer-probe.js';
import { probeGracefulStop } from './cluster/graceful-stop-probe.js';
import { probePeerLink } from './cluster/peer-link-probe.js';
import { probeRestart } from './cluster/restart-probe.js';
import { runScenario } from './cluster/scenario.js';
import { seedList } from './cluster/seeds.js';
import { brokerLimits } from '../../transport/limits.js';
import { runMembershipScenario } from './cluster/membership.js';

// The simulated world replaces the process's I/O: the network (node:dgram), randomness (node:crypto's
// random functions; HMAC stays real) and the disk's asynchronous calls (see cluster/disk.ts). The factories
// only forward, at call time, to what cluster/hooks.ts puts on globalThis (see there why).
const hooks = vi.hoisted(() => () => (globalThis as Record<string, unknown>).__skeinSimulationHooks as SimHooks);
type Fn = (...args: never[]) => unknown;
const forward = vi.hoisted(() => <T extends Record<string, Fn>>(pick: () => T, names: (keyof T & string)[]) =>
  Object.fromEntries(names.map((name) => [name, (...args: never[]) => (pick()[name] as Fn)(...args)])));

vi.mock('node:dgram', () => {
  const overrides = forward(() => hooks().dgram, ['createSocket']);
  return { ...overrides, default: overrides };
});
vi.mock('node:crypto', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:crypto')>();
  const overrides = forward(() => hooks().crypto, ['randomFillSync', 'randomBytes', 'randomInt']);
  return { ...original, ...overrides, default: { ...original, ...overrides } };
});
vi.mock('node:fs', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:fs')>();
  const overrides = forward(() => hooks().fs, ['fdatasync', 'fdatasyncSync', 'fsyncSync']);
  return { ...original, ...overrides, default: { ...original, ...overrides } };
});
vi.mock('node:fs/promises', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:fs/promises')>();
  const overrides = forward(() => hooks().fsPromises, ['open', 'readFile', 'rename', 'unlink']);
  return { ...original, ...overrides, default: { ...original, ...overrides } };
});

/**
 * Whole brokers and a client on simulated time and a simulated network (see
 * test/sim/cluster/): crashes, partitions and loss from a seed, minutes of
 * cluster time in seconds, and a failing seed replays exactly.
 * A sweep: SKEIN_CLUSTER_SIM_SEEDS=1-200 npm run sim:cluster
 */
const seeds = seedList(process.env.SKEIN_CLUSTER_SIM_SEEDS ?? '1-4', 'SKEIN_CLUSTER_SIM_SEEDS');
/** Membership faults (joins, moves, decommissions among the others): SKEIN_CLUSTER_SIM_MEMBERSHIP_SEEDS=1-100 npm run sim:cluster */
// Seed 12 decommissions just as a stopped broker restarts: refused for good before a decommission waiting on a broker was retried.
const membershipSeeds = seedList(process.env.SKEIN_CLUSTER_SIM_MEMBERSHIP_SEEDS ?? '1-2,12', 'SKEIN_CLUSTER_SIM_MEMBERSHIP_SEEDS');
/** Per fault kind, over the seeds run: how many, and the longest stall once a majority was healthy. */
const sweep = new Map<FaultKind, { count: number; longestMs: number; seed: number }>();

afterAll(() => {
  if (sweep.size === 0) return;
  const rows = [...sweep].sort((a, b) => a[0].localeCompare(b[0])).map(([kind, s]) => `  ${kind.padEnd(22)} ${String(s.count).padStart(4)} faults, longest stall ${s.longestMs} ms (seed ${s.seed})${boundedKinds.has(kind) ? '' : ' (not bounded)'}`);
  console.log(`stalls per fault kind over ${seeds.length} seeds (target ${stallTargetMs} ms, limit ${stallLimitMs} ms, where a majority is healthy):\n${rows.join('\n')}`);
});

describe('simulated cluster changing shape: joins, moves and decommissions among crashes, partitions and loss', () => {
  for (const seed of membershipSeeds) {
    it(`seed ${seed}: every acknowledged record is read back, and the cluster converges on its new shape`, async () => {
      const outcome = await runMembershipScenario(seed);
      expect(outcome.acknowledged).toBeGreaterThan(0);
      console.log(`membership seed ${seed}: ${outcome.acknowledged} records acknowledged and read back over ${(outcome.simulatedMs / 1000).toFixed(1)} s simulated\n  ${outcome.events.join('\n  ')}`);
    }, 300_000);
  }
});

describe('simulated cluster: real brokers and SDK on simulated time and network', () => {
  for (const seed of seeds) {
    it(`seed ${seed}: every acknowledged record is read back once, in order`, async () => {
      const outcome = await runScenario(seed);
      expect(outcome.acknowledged).toBeGreaterThan(0);
      for (const fault of outcome.faultStalls) {
        const seen = sweep.get(fault.kind) ?? { count: 0, longestMs: 0, seed };
        seen.count++;
        if (fault.stallMs > seen.longestMs) Object.assign(seen, { longestMs: fault.stallMs, seed });
        sweep.set(fault.kind, seen);
      }
      const stalls = outcome.faultStalls.map((f) => `${f.text} → stall ${f.stallMs} ms`);
      console.log(`seed ${seed}: ${outcome.acknowledged} records acknowledged and read back over ${(outcome.simulatedMs / 1000).toFixed(1)} s simulated; ${outcome.faults[0]}\n  ${stalls.join('\n  ')}`);
      const over = (boundMs: number): string[] => outcome.faultStalls.filter((f) => boundedKinds.has(f.kind) && f.stallMs > boundMs).map((f) => `${f.text}: writes stalled ${f.stallMs} ms`);
      const overTarget = over(stallTargetMs);
      if (overTarget.length > 0) console.log(`seed ${seed}: past the ${stallTargetMs} ms target (issue 10):\n  ${overTarget.join('\n  ')}`);
      expect(over(stallLimitMs), `seed ${seed}: writes must resume within ${stallLimitMs} ms once a majority is healthy`).toEqual([]);
    }, 300_000);
  }

  it('a SIGKILLed broker restarted on its port hears from every leader within a second (the others drop their stale links to it)', async () => {
    const probe = await probeRestart(3, 1_000);
    expect(probe.restartsSeen).toEqual([1, 1]);
    expect(probe.leadersKnownToRestarted.map((leader) => leader > 0)).toEqual([true, true, true]);
  }, 120_000);

  it('a megabyte Raft catch-up on a lossy peer link holds no other group\'s heartbeats behind it', async () => {
    // The simulation's brokers tick every 50 ms and hold elections after 10 ticks without a heartbeat.
    const electionTimeoutMs = 500;
    const probe = await probePeerLink({ seed: 4, loss: 0.1, appendBytes: 900 * 1024, heartbeats: 40, heartbeatEveryMs: 50 });
    const seen = `append after ${probe.appendDelayMs} ms, heartbeats after ${probe.heartbeatDelaysMs.join(' ')} ms`;
    expect(probe.appendDelayMs, seen).toBeLessThan(Infinity);
    expect(Math.max(...probe.heartbeatDelaysMs), seen).toBeLessThan(electionTimeoutMs / 2);
  }, 120_000);

  it('a megabyte crosses a path that reorders (delays of 0.05-8 ms) but loses nothing in well under a second: reordering is not taken for congestion', async () => {
    const probe = await probeBulkTransfer({ seed: 4, bytes: 1_000_000, conditions: { loss: 0, duplicate: 0, minDelayMs: 0.05, maxDelayMs: 8 } });
    const { packetsLost, packetsLostSpuriously, congestionEvents } = probe.sender;
    const seen = `${probe.deliveryMs} ms; ${packetsLost} packets declared lost, ${packetsLostSpuriously} of them seen to arrive, ${congestionEvents} congestion events`;
    expect(probe.deliveryMs, seen).toBeLessThan(1_000);
  }, 60_000);

  for (const stop of ['follower', 'leader'] as const) {
    it(`a graceful stop of the ${stop} leaves a caught-up majority behind: writes go on while a restarted replica is still far behind`, async () => {
      const probe = await probeGracefulStop({ seed: 5, stop, backlogBytes: 512 * 1024 });
      const seen = `stop took ${probe.stopMs} ms, a record sent after it was acknowledged in ${probe.firstAckMs} ms, longest stall ${probe.longestStallMs} ms`;
      console.log(`graceful stop of the ${stop}: ${seen}`);
      expect(probe.longestStallMs, seen).toBeLessThan(stallTargetMs / 2);
    }, 120_000);
  }

  it('a graceful stop waits for a replica to catch up no longer than its bound, and for one that is down no longer than its grace', async () => {
    // The simulation's election timeout: ticks of 50 ms, 10 of them.
    const electionTimeoutMs = 500;
    const catchUpMs = brokerLimits.stopCatchUpElectionTimeouts * electionTimeoutMs;
    const graceMs = brokerLimits.stopAliveGraceElectionTimeouts * electionTimeoutMs;
    const tooFar = await probeGracefulStop({ seed: 5, stop: 'follower', backlogBytes: 4 * 1024 * 1024 });
    expect(tooFar.stopMs).toBeGreaterThanOrEqual(catchUpMs);
    expect(tooFar.stopMs).toBeLessThan(catchUpMs + electionTimeoutMs);
    const down = await probeGracefulStop({ seed: 5, stop: 'follower', backlogBytes: 16 * 1024, restartBehind: false });
    expect(down.stopMs).toBeGreaterThanOrEqual(graceMs);
    expect(down.stopMs).toBeLessThan(graceMs + electionTimeoutMs);
  }, 120_000);

  it('a seed replays exactly: the same records at the same offsets, the same faults at the same instants', async () => {
    const first = await runScenario(7, { faults: 3 });
    const second = await runScenario(7, { faults: 3 });
    expect(second.fingerprint).toBe(first.fingerprint);
  }, 300_000);
});
