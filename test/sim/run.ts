import { decodeWire, encodeWire } from '../../broker/raft/codec.js';
import { bootstrapState, isJoint, type ConfChange } from '../../broker/raft/core/membership.js';
import type { NodeId } from '../../broker/raft/core/types.js';
import { RaftDriver } from '../../broker/raft/driver.js';
import { RaftMux } from '../../broker/raft/mux.js';
import type { Clock } from '../../transport/clock.js';
import { Prng } from '../../transport/core/prng.js';
import { isSkeinError } from '../../transport/errors.js';
import { Checker } from './checker.js';
import { SimDisk } from './disk.js';
import { SimNetwork } from './network.js';
import { optionsFromSeed, type SimOptions } from './options.js';
import { Scheduler } from './scheduler.js';
import { SimStateMachine } from './state-machine.js';

/**
 * One simulated run: a Raft group of real drivers and cores on a simulated
 * clock, network and disks, all driven by one seed. A fault phase (random
 * proposals, reads, crashes and restarts, partitions, clogs, membership
 * changes, leadership transfers, snapshots) is followed by a healed phase in
 * which the group must converge: every acknowledged proposal applied on
 * every member. The checkers (checker.ts) watch every step.
 */

export interface SimStats {
  proposalsCommitted: number;
  proposalsRejected: number;
  readsChecked: number;
  crashes: number;
  partitions: number;
  clogs: number;
  membershipChanges: number;
  transfers: number;
  snapshotsTaken: number;
  snapshotsInstalled: number;
  elections: number;
  messagesSent: number;
  messagesLost: number;
  tornAppends: number;
  diskOpsLost: number;
  simulatedMs: number;
  events: number;
}

export interface SimResult {
  readonly seed: number;
  readonly options: SimOptions;
  readonly violation: string | null;
  readonly stats: SimStats;
  /** The last trace lines (all of them when tracing to a sink). */
  readonly trace: readonly string[];
}

const group = 'sim';
const encoder = new TextEncoder();

interface Replica {
  readonly id: NodeId;
  readonly disk: SimDisk;
  readonly drift: number;
  up: boolean;
  decommissioned: boolean;
  driver: RaftDriver | null;
  sm: SimStateMachine | null;
  mux: RaftMux | null;
  lastRole: string;
  lastTerm: number;
  /** Protocol violations counted by earlier incarnations. */
  protocolViolations: number;
}

/** Yields to the event loop so every promise chain the last event started settles before the next event. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export async function runSimulation(seed: number, options: { traceSink?: (line: string) => void; traceLinesKept?: number } = {}): Promise<SimResult> {
  const o = optionsFromSeed(seed);
  const rootPrng = new Prng(seed ^ 0x5eed5eed);
  const prng = {
    workload: rootPrng.fork(),
    network: rootPrng.fork(),
    disk: rootPrng.fork(),
    nodes: rootPrng.fork(),
    faults: rootPrng.fork(),
  };
  const scheduler = new Scheduler();
  const kept: string[] = [];
  const keepMax = options.traceLinesKept ?? 400;
  const trace = (line: string): void => {
    const text = `[${(scheduler.now / 1000).toFixed(3)}s] ${line}`;
    if (options.traceSink !== undefined) options.traceSink(text);
    kept.push(text);
    if (kept.length > keepMax) kept.shift();
  };
  const checker = new Checker(() => scheduler.now);
  const stats: SimStats = {
    proposalsCommitted: 0,
    proposalsRejected: 0,
    readsChecked: 0,
    crashes: 0,
    partitions: 0,
    clogs: 0,
    membershipChanges: 0,
    transfers: 0,
    snapshotsTaken: 0,
    snapshotsInstalled: 0,
    elections: 0,
    messagesSent: 0,
    messagesLost: 0,
    tornAppends: 0,
    diskOpsLost: 0,
    simulatedMs: 0,
    events: 0,
  };

  const ids = Array.from({ length: o.poolSize }, (_, i) => i + 1);
  const replicas = new Map<NodeId, Replica>();
  const network = new SimNetwork(
    scheduler,
    prng.network,
    o.network,
    ids,
    (from, to, wire) => {
      const r = replicas.get(to);
      if (r === undefined || !r.up || r.mux === null) return;
      r.mux.receiveWire(wire, from);
    },
    trace,
  );

  const boot = bootstrapState({
    voters: ids.slice(0, o.initialVoters),
    votersOutgoing: [],
    learners: ids.slice(o.initialVoters, o.initialVoters + o.initialLearners),
    learnersNext: [],
  });
  for (const id of ids) {
    const disk = new SimDisk(scheduler, prng.disk.fork(), { syncLatencyMaxMs: o.syncLatencyMaxMs, tornWrites: o.tornWrites }, {
      onAppend: (entries, prevTerm) => checker.onAppend(id, entries, prevTerm),
      onDurabilityPending: () => {
        if (phase === 'fault' && prng.faults.chance(o.crashOnWriteProbability)) {
          // Not from inside the driver's own call: as the next event, before the write completes.
          scheduler.after(0, () => {
            const r = replicas.get(id)!;
            if (phase === 'fault' && r.up) crashAndRestartLater(r);
          });
        }
      },
    });
    if (id <= o.initialVoters + o.initialLearners) disk.format([boot.entry], boot.hardState);
    const drift = 1 + (prng.nodes.next() * 2 - 1) * o.clockDrift;
    replicas.set(id, { id, disk, drift, up: false, decommissioned: false, driver: null, sm: null, mux: null, lastRole: 'down', lastTerm: 0, protocolViolations: 0 });
  }
  trace(`seed ${seed}: ${JSON.stringify(o)}`);

  // ---------------------------------------------------------------- replicas

  const clockFor = (r: Replica, incarnation: number): Clock => {
    const alive = (): boolean => r.up && r.disk.incarnation === incarnation;
    return {
      // The driver reads no time of its own, it only sets timers (each replica's running at its drift).
      nowMs: () => scheduler.now,
      epochMs: () => scheduler.now,
      every(intervalMs, fn) {
        let cancelled = false;
        const period = intervalMs * r.drift;
        const step = (): void => {
          if (cancelled || !alive()) return;
          fn();
          scheduler.after(period, step);
        };
        scheduler.after(prng.nodes.next() * period, step);
        return () => {
          cancelled = true;
        };
      },
      after(delayMs, fn) {
        const event = scheduler.after(delayMs * r.drift, () => {
          if (alive()) fn();
        });
        return () => {
          event.cancelled = true;
        };
      },
    };
  };

  const start = async (r: Replica): Promise<void> => {
    r.up = true;
    const incarnation = r.disk.incarnation;
    const mux = new RaftMux((to, wire) => {
      stats.messagesSent++;
      // A granted vote (type 4, not rejected) as it leaves the replica: what the voter promised.
      if (wire.t === 4 && wire.r === false) checker.onVoteGranted(r.id, to, wire.e as number);
      const sent = prng.network.chance(o.cborFraction) ? decodeWire(encodeWire(wire)) : wire;
      network.send(r.id, to, sent);
    });
    const sm = new SimStateMachine(r.id, checker);
    r.mux = mux;
    r.sm = sm;
    const driver = await RaftDriver.open({
      group,
      id: r.id,
      storage: r.disk.storage(),
      hardStateStore: r.disk.hardStateStore(),
      transport: mux.transport(group),
      stateMachine: sm,
      prng: prng.nodes.fork(),
      clock: clockFor(r, incarnation),
      tickMs: o.tickMs,
      electionTicks: o.electionTicks,
      heartbeatTicks: o.heartbeatTicks,
      preVote: o.preVote,
      checkQuorum: o.checkQuorum,
      commitNotice: o.commitNotice,
      appendBytesMax: o.appendBytesMax,
      inflightAppendsMax: o.inflightAppendsMax,
      proposalTimeoutMs: o.proposalTimeoutMs,
      onFatal: (error) => checker.fail(`node ${r.id} stopped on a fatal error: ${String(error)}`),
    });
    if (!r.up || r.disk.incarnation !== incarnation) {
      driver.close();
      return;
    }
    r.driver = driver;
    trace(`node ${r.id} started (log ${driver.status().firstIndex}..${driver.status().lastIndex}, term ${driver.status().term})`);
  };

  const crash = (r: Replica): void => {
    stats.crashes++;
    stats.snapshotsInstalled += r.driver?.counters.snapshotsInstalled ?? 0;
    stats.elections += r.driver?.counters.electionsStarted ?? 0;
    r.protocolViolations += r.driver?.counters.protocolViolations ?? 0;
    r.driver?.close();
    r.driver = null;
    r.mux = null;
    r.sm = null;
    r.up = false;
    r.disk.crash();
    trace(`node ${r.id} crashed`);
  };

  const live = (): Replica[] => [...replicas.values()].filter((r) => r.up && r.driver !== null);
  const leader = (): Replica | null => {
    let best: Replica | null = null;
    for (const r of live()) {
      const s = r.driver!.status();
      if (s.role === 'leader' && (best === null || s.term > best.driver!.status().term)) best = r;
    }
    return best;
  };
  const pickLive = (): Replica | null => {
    const l = live();
    return l.length === 0 ? null : l[prng.workload.int(0, l.length - 1)]!;
  };
  const expo = (meanMs: number): number => -meanMs * Math.log(1 - prng.workload.next());
  /** Runs `body` at exponentially distributed intervals of `meanMs` while `active()` holds (never if meanMs is 0). */
  const repeat = (meanMs: number, active: () => boolean, body: () => void): (() => void) => {
    const step = (): void => {
      if (meanMs === 0 || !active()) return;
      body();
      scheduler.after(expo(meanMs), step);
    };
    return step;
  };

  // ---------------------------------------------------------------- workload

  let phase = 'fault' as 'fault' | 'heal' | 'done';
  const acked: string[] = [];
  let proposalSeq = 0;
  const proposeUntil = o.faultMs + 2000;

  const proposeLoop = repeat(o.proposalIntervalMeanMs, () => scheduler.now <= proposeUntil, () => {
    const target = prng.workload.chance(0.85) ? (leader() ?? pickLive()) : pickLive();
    if (target !== null) {
      const id = `p${++proposalSeq}`;
      target.driver!.propose(encoder.encode(id)).then(
        () => {
          acked.push(id);
          stats.proposalsCommitted++;
        },
        (error: unknown) => {
          stats.proposalsRejected++;
          if (!isSkeinError(error)) checker.fail(`proposal failed with a non-SkeinError: ${String(error)}`);
        },
      );
    }
  });

  const readLoop = repeat(o.readIntervalMeanMs, () => scheduler.now <= proposeUntil, () => {
    const target = pickLive();
    if (target !== null) {
      const mustSee = acked.length;
      const sm = target.sm!;
      const node = target.id;
      target.driver!.read().then(
        (index) => {
          stats.readsChecked++;
          checker.counters.readsChecked++;
          if (sm.appliedIndex < index) checker.fail(`read on node ${node} resolved at ${index} before applying it (applied ${sm.appliedIndex})`);
          for (let i = 0; i < mustSee; i++) {
            if (!sm.ids.has(acked[i]!)) {
              checker.fail(`linearizability: read on node ${node} at index ${index} misses ${acked[i]}, acknowledged before the read began`);
              return;
            }
          }
        },
        () => undefined,
      );
    }
  });

  const membershipLoop = repeat(o.membershipIntervalMeanMs, () => phase === 'fault', () => {
    const l = leader();
    if (l !== null) {
      const config = l.driver!.status().config;
      if (!isJoint(config)) {
        const changes = pickMembershipChange(prng.workload, ids, config.voters, config.learners);
        if (changes !== null) {
          trace(`membership change via ${l.id}: ${JSON.stringify(changes)}`);
          l.driver!.changeMembership(changes).then(
            () => {
              stats.membershipChanges++;
              trace(`membership change applied: ${JSON.stringify(changes)}`);
            },
            () => undefined,
          );
        }
      }
    }
  });

  const transferLoop = repeat(o.transferIntervalMeanMs, () => phase === 'fault', () => {
    const l = leader();
    if (l !== null) {
      const voters = l.driver!.status().config.voters.filter((v) => v !== l.id);
      if (voters.length > 0) {
        const to = voters[prng.workload.int(0, voters.length - 1)]!;
        try {
          l.driver!.transferLeadership(to);
          stats.transfers++;
          trace(`leadership transfer ${l.id} -> ${to}`);
        } catch (error) {
          if (!isSkeinError(error)) throw error;
        }
      }
    }
  });

  const snapshotLoop = repeat(o.snapshotIntervalMeanMs, () => phase !== 'done', () => {
    const r = pickLive();
    if (r !== null) {
      const keepEntries = prng.workload.int(0, 30);
      r.driver!.snapshot({ keepEntries }).then(
        (snapshot) => {
          if (snapshot !== null) {
            stats.snapshotsTaken++;
            trace(`node ${r.id} snapshot at ${snapshot.meta.index} (keeps ${keepEntries})`);
          }
        },
        () => undefined,
      );
    }
  });

  function crashAndRestartLater(r: Replica): void {
    crash(r);
    scheduler.after(-o.downtimeMeanMs * Math.log(1 - prng.faults.next()), () => {
      if (phase === 'fault' && !r.up) void start(r);
    });
  }

  const crashLoop = (): void => {
    if (phase !== 'fault') return;
    if (o.crashPerSecond > 0 && prng.faults.chance(o.crashPerSecond * 0.1)) {
      const victims = live();
      const l = leader();
      if (victims.length > 0) {
        // Leaders half the time: the interesting failures (Figure 8 and its kin) follow a leader's death.
        const r = l !== null && prng.faults.chance(0.5) ? l : victims[prng.faults.int(0, victims.length - 1)]!;
        crashAndRestartLater(r);
      }
    }
    scheduler.after(100, crashLoop);
  };

  // ---------------------------------------------------------------- healing and convergence

  let converged = false;
  const heal = (): void => {
    phase = 'heal';
    // A healthy network still duplicates and reorders a little, but no longer loses or lags:
    // with one entry per append and a window of two, 30 ms of jitter alone keeps a pipeline collapsing.
    network.heal({ lossProbability: 0, duplicateProbability: o.network.duplicateProbability, delayMeanMs: Math.min(o.network.delayMeanMs, 5) });
    for (const r of replicas.values()) if (!r.up) void start(r);
    trace('fault phase over: network healed, every replica restarting');
    scheduler.after(500, convergeCheck);
  };

  const convergeCheck = (): void => {
    if (phase !== 'heal') return;
    const l = leader();
    const why = l === null ? 'no leader' : notConverged(l);
    if (why === null) {
      converged = true;
      phase = 'done';
      trace(`converged: leader ${l!.id}, commit ${l!.driver!.status().commit}, ${acked.length} proposals acknowledged`);
      return;
    }
    // Liveness is progress: a slow group (one entry per append behind a 40 ms disk) may take
    // long to drain its backlog, but a stuck one makes no progress at all.
    const progress = groupProgress();
    if (progress > lastProgress) {
      lastProgress = progress;
      lastProgressAt = scheduler.now;
    }
    if (scheduler.now - lastProgressAt > o.stuckMaxMs || scheduler.now > o.faultMs + o.healMaxMs) {
      checker.fail(`liveness: no convergence after healing (${why}; progress last seen ${((scheduler.now - lastProgressAt) / 1000).toFixed(1)} s ago); ${describe()}`);
      return;
    }
    scheduler.after(200, convergeCheck);
  };
  let lastProgress = -1;
  let lastProgressAt = 0;
  /** Grows whenever any live replica commits or applies more. */
  const groupProgress = (): number => {
    let sum = 0;
    for (const r of live()) {
      const s = r.driver!.status();
      sum += s.commit + s.applied;
    }
    return sum;
  };

  const notConverged = (l: Replica): string | null => {
    if (scheduler.now <= proposeUntil) return 'proposals still running';
    const s = l.driver!.status();
    if (isJoint(s.config)) return 'joint configuration';
    const members = new Set([...s.config.voters, ...s.config.learners]);
    if (s.commit !== s.lastIndex) return `leader commit ${s.commit} < last ${s.lastIndex}`;
    for (const r of replicas.values()) {
      // Once the configuration is committed (everything is), a replica outside it is stopped by its operator.
      if (!members.has(r.id) && r.id !== l.id && r.up && !r.decommissioned) {
        // Removed from the group: the operator stops it.
        r.decommissioned = true;
        r.driver?.close();
        r.up = false;
        trace(`node ${r.id} decommissioned (not a member)`);
      }
    }
    if (!members.has(l.id)) return `leader ${l.id} is not a member yet leads`;
    for (const id of members) {
      const r = replicas.get(id)!;
      if (!r.up || r.driver === null) return `member ${id} down`;
      const rs = r.driver.status();
      if (rs.applied !== s.commit) return `member ${id} applied ${rs.applied} of ${s.commit}`;
      for (const p of acked) if (!r.sm!.ids.has(p)) return `member ${id} lacks ${p}`;
    }
    for (const id of members) {
      const r = replicas.get(id)!;
      const rs = r.driver!.status();
      checker.checkLog(id, { firstIndex: rs.firstIndex, commit: rs.commit, termAt: (i) => r.driver!.termAt(i) });
      const expected = checker.historyChain[rs.applied];
      if (expected !== undefined && expected !== r.sm!.chain) checker.fail(`node ${id} converged with a state that differs from the history`);
    }
    return null;
  };

  const describe = (): string =>
    [...replicas.values()]
      .map((r) => {
        if (r.driver === null) return `${r.id}:${r.decommissioned ? 'decommissioned' : 'down'}`;
        const s = r.driver.status();
        const c = r.driver.counters;
        return `${r.id}:${s.role}/t${s.term}/lead${s.leader}/c${s.commit}/a${s.applied}/f${s.firstIndex}/l${s.lastIndex}/v[${s.config.voters}]/o[${s.config.votersOutgoing}]/L[${s.config.learners}]/pv${c.protocolViolations}`;
      })
      .join(' ');

  // ---------------------------------------------------------------- main loop

  for (const r of replicas.values()) await start(r);
  network.startFaults();
  scheduler.after(0, proposeLoop);
  scheduler.after(50, readLoop);
  scheduler.after(1000, membershipLoop);
  scheduler.after(1500, transferLoop);
  scheduler.after(500, snapshotLoop);
  scheduler.after(1000, crashLoop);
  scheduler.at(o.faultMs, heal);

  for (;;) {
    const event = scheduler.pop();
    if (event === null) break;
    if (event.cancelled) continue;
    stats.events++;
    event.fn();
    await settle();
    observe();
    if (checker.violation !== null || phase === 'done') break;
  }

  function observe(): void {
    for (const r of replicas.values()) {
      if (!r.up || r.driver === null) continue;
      const s = r.driver.status();
      if (s.role !== r.lastRole || s.term !== r.lastTerm) {
        if (s.role === 'leader') trace(`node ${r.id} leads term ${s.term}`);
        r.lastRole = s.role;
        r.lastTerm = s.term;
      }
      if (s.role === 'leader') {
        const d = r.driver;
        checker.observeLeader({ id: r.id, term: s.term, firstIndex: s.firstIndex, lastIndex: s.lastIndex, termAt: (i) => d.termAt(i) }, s.commit);
      }
    }
  }

  if (checker.violation === null && !converged) checker.fail(`the simulation ran out of events before converging; ${describe()}`);
  for (const r of replicas.values()) {
    const violations = (r.driver?.counters.protocolViolations ?? 0) + r.protocolViolations;
    // Every peer in the simulation is correct: anything a core counted as a protocol violation is a bug.
    if (violations > 0) checker.fail(`node ${r.id} counted ${violations} protocol violations from correct peers`);
    stats.snapshotsInstalled += r.driver?.counters.snapshotsInstalled ?? 0;
    stats.elections += r.driver?.counters.electionsStarted ?? 0;
    stats.tornAppends += r.disk.counters.tornAppends;
    stats.diskOpsLost += r.disk.counters.opsLostInCrashes;
    r.driver?.close();
  }
  stats.partitions = network.counters.partitions;
  stats.clogs = network.counters.clogs;
  stats.messagesLost = network.counters.lost;
  stats.simulatedMs = scheduler.now;
  if (checker.violation !== null) trace(`VIOLATION ${checker.violation}`);
  return { seed, options: o, violation: checker.violation, stats, trace: kept };
}

/** A random valid membership change given the current voters and learners. */
function pickMembershipChange(p: Prng, pool: readonly NodeId[], voters: readonly NodeId[], learners: readonly NodeId[]): ConfChange[] | null {
  const members = new Set([...voters, ...learners]);
  const outsiders = pool.filter((id) => !members.has(id));
  const any = <T>(xs: readonly T[]): T => xs[p.int(0, xs.length - 1)]!;
  const options: Array<() => ConfChange[]> = [];
  if (outsiders.length > 0) {
    options.push(() => [{ type: 'addLearner', node: any(outsiders) }]);
    options.push(() => [{ type: 'addVoter', node: any(outsiders) }]);
  }
  if (learners.length > 0) {
    options.push(() => [{ type: 'addVoter', node: any(learners) }]);
    options.push(() => [{ type: 'remove', node: any(learners) }]);
  }
  if (voters.length > 1) {
    options.push(() => [{ type: 'remove', node: any(voters) }]);
    options.push(() => [{ type: 'addLearner', node: any(voters) }]);
  }
  if (voters.length > 0 && (outsiders.length > 0 || learners.length > 0)) {
    options.push(() => {
      const incoming = any([...outsiders, ...learners]);
      return [
        { type: 'addVoter', node: incoming },
        { type: 'remove', node: any(voters) },
      ];
    });
  }
  // Several changes at once (half the voters swapped, say): only joint consensus keeps these safe.
  options.push(() => {
    const shuffled = [...pool].sort(() => p.next() - 0.5);
    const count = p.int(2, Math.min(4, pool.length));
    const types = ['addVoter', 'addLearner', 'remove'] as const;
    return shuffled.slice(0, count).map((node) => ({ type: any(types), node }));
  });
  return any(options)();
}
