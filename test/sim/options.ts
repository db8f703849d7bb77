import { Prng } from '../../transport/core/prng.js';
import type { PartitionMode, NetworkOptions } from './network.js';

/**
 * Every knob of a run, drawn from its seed (swarm testing: each seed
 * explores a different corner — no loss but many crashes, heavy loss and
 * one-way partitions, tiny election timeouts, ...).
 */
export interface SimOptions {
  readonly seed: number;
  /** Replicas that exist; the first `initialVoters` found the group, the rest start empty. */
  readonly poolSize: number;
  readonly initialVoters: number;
  readonly initialLearners: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** How followers learn commits: at once, or with the next append or heartbeat (as partitions run). */
  readonly commitNotice: 'immediate' | 'piggyback';
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly tickMs: number;
  /** Each replica's clock runs at 1 ± up to this much. */
  readonly clockDrift: number;
  readonly network: NetworkOptions;
  /** Fraction of messages sent through a full CBOR encode/decode (the rest as wire objects). */
  readonly cborFraction: number;
  /** 0 sends one entry per append: old entries and a new leader's no-op travel apart (Figure 8 needs that). */
  readonly appendBytesMax: number;
  readonly inflightAppendsMax: number;
  readonly syncLatencyMaxMs: number;
  readonly tornWrites: boolean;
  readonly crashPerSecond: number;
  /** Chance that a replica crashes right after issuing a write and before it is durable (FoundationDB's buggify). */
  readonly crashOnWriteProbability: number;
  readonly downtimeMeanMs: number;
  readonly proposalIntervalMeanMs: number;
  readonly readIntervalMeanMs: number;
  readonly membershipIntervalMeanMs: number;
  readonly transferIntervalMeanMs: number;
  readonly snapshotIntervalMeanMs: number;
  readonly proposalTimeoutMs: number;
  /**
   * The fault phase; then the network heals, everyone restarts, and the group
   * must converge: never going stuckMaxMs without progress, and within healMaxMs at most.
   */
  readonly faultMs: number;
  readonly stuckMaxMs: number;
  readonly healMaxMs: number;
}

const modes: readonly PartitionMode[] = ['isolateSingle', 'uniformSplit', 'oneWay', 'randomLinks'];

export function optionsFromSeed(seed: number): SimOptions {
  const p = new Prng(seed);
  const pick = <T>(values: readonly T[]): T => values[p.int(0, values.length - 1)]!;
  const poolSize = p.int(3, 7);
  const initialVoters = Math.min(poolSize, pick([1, 3, 3, 3, 5, 5, 2, 4]));
  // Short timeouts a third of the time: election storms with many candidates at once.
  const electionTicks = p.chance(0.35) ? p.int(3, 5) : p.int(6, 20);
  const lossy = p.chance(0.7);
  const options = {
    seed,
    poolSize,
    initialVoters,
    initialLearners: poolSize > initialVoters && p.chance(0.3) ? 1 : 0,
    preVote: p.chance(0.75),
    checkQuorum: p.chance(0.65),
    electionTicks,
    heartbeatTicks: p.int(1, Math.min(3, electionTicks - 1)),
    tickMs: p.int(10, 40),
    clockDrift: p.chance(0.5) ? p.next() * 0.25 : 0,
    network: {
      delayMinMs: p.int(0, 5),
      delayMeanMs: p.int(1, 30),
      lossProbability: lossy ? p.next() * 0.3 : 0,
      duplicateProbability: p.chance(0.5) ? p.next() * 0.1 : 0,
      pathCapacity: p.int(8, 128),
      partitionModes: modes.filter(() => p.chance(0.6)),
      partitionPerSecond: p.next() * 0.5,
      unpartitionPerSecond: 0.2 + p.next() * 0.8,
      clogPerSecond: p.chance(0.5) ? p.next() * 0.05 : 0,
      clogMeanMs: p.int(50, 2000),
    },
    cborFraction: p.next(),
    appendBytesMax: pick([0, 0, 16, 256, 1024 * 1024]),
    inflightAppendsMax: pick([1, 2, 4, 16, 64]),
    syncLatencyMaxMs: p.chance(0.3) ? p.int(10, 40) : p.int(0, 10),
    tornWrites: p.chance(0.5),
    crashPerSecond: p.chance(0.8) ? p.next() * 0.4 : 0,
    crashOnWriteProbability: p.chance(0.5) ? p.next() * 0.08 : 0,
    // Quick restarts too: a replica back within one election still finds that term's candidates.
    downtimeMeanMs: p.chance(0.4) ? p.int(10, 200) : p.int(200, 5000),
    proposalIntervalMeanMs: p.int(5, 150),
    readIntervalMeanMs: p.int(50, 500),
    membershipIntervalMeanMs: p.chance(0.7) ? p.int(500, 4000) : 0,
    transferIntervalMeanMs: p.chance(0.6) ? p.int(500, 5000) : 0,
    snapshotIntervalMeanMs: p.chance(0.7) ? p.int(300, 3000) : 0,
    proposalTimeoutMs: p.int(2000, 10_000),
    faultMs: p.int(8_000, 25_000),
    stuckMaxMs: 30_000,
    healMaxMs: 600_000,
  };
  // Drawn last, so every earlier knob of a seed stays what it was before this one existed.
  return { ...options, commitNotice: p.chance(0.5) ? 'piggyback' : 'immediate' };
}
