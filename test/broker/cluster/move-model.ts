import { sameMembers } from '../../../broker/cluster/core/brokers.js';
import { applyMoveReport, cancelMove, newMove, startMove, type MoveDecision, type MoveOutcome, type MoveRecord, type MoveReport } from '../../../broker/cluster/core/move-record.js';
import { defaultStepOptions, stepMove, type GroupView, type MoveMemo, type ReplicaProgress } from '../../../broker/cluster/core/reassignment.js';
import { applyConfEntry, isJoint, type ConfChange } from '../../../broker/raft/core/membership.js';
import type { ConfigState, NodeId } from '../../../broker/raft/core/types.js';

/**
 * A model of one partition's Raft group and the metadata, faithful where a
 * move can go wrong, to drive stepMove through any interleaving:
 * - the group's configurations live in the leader's log; entries after the
 *   commit point may be lost when the leader changes (or kept, and then
 *   committed by the new leader's first commit), and a committed joint
 *   configuration is left by the leader by itself, as the Raft core does;
 * - a deposed leader may not know it: it keeps stepping on its own copy of
 *   the log, whose new entries never commit, and a read on its group fails
 *   (a read on the metadata group does not: that group is healthy);
 * - every broker's metadata view lags by any amount until a linearizable
 *   read brings it up to date; reports reach the controller late, in any order;
 * - new replicas catch up, fall behind and die at random.
 * The invariants are checked after every event (see check()).
 */

export type ModelEvent =
  | { kind: 'step' }
  | { kind: 'staleStep'; pick: number }
  | { kind: 'commit' }
  | { kind: 'leaderChange'; pick: number; keepSuffix: boolean }
  | { kind: 'metaCatchUp'; who: number }
  | { kind: 'deliver'; pick: number }
  | { kind: 'cancel' }
  | { kind: 'admit' }
  | { kind: 'progress'; pick: number; caughtUp: boolean }
  | { kind: 'alive'; pick: number; alive: boolean }
  | { kind: 'dropStale'; pick: number }
  | { kind: 'time'; ms: number };

interface Entry {
  readonly config: ConfigState;
}

interface Leader {
  readonly id: NodeId;
  readonly term: number;
  log: Entry[];
  committed: number;
  /** Has committed an entry of its term (its no-op). */
  writable: boolean;
  memo: MoveMemo | null;
  freshTerm: number;
  /** The metadata version a confirmed read of the group covered. */
  confirmedVersion: number;
}

interface Meta {
  readonly move: MoveRecord | null;
  readonly outcome: MoveOutcome | null;
  readonly replicas: readonly NodeId[];
  readonly cancelAsked: boolean;
}

export class MoveModel {
  readonly original: readonly NodeId[];
  readonly target: readonly NodeId[];
  nowMs = 0;
  /** Every version of the metadata about this partition; views are indexes into it. */
  readonly history: Meta[] = [];
  leader: Leader;
  readonly stale: Leader[] = [];
  readonly reports: MoveReport[] = [];
  readonly progress = new Map<NodeId, { caughtUp: boolean; alive: boolean }>();
  /** A joint configuration proposed while some new voter was not caught up. */
  readonly violations: string[] = [];
  /** Proposals that change the voters (the joint configuration of a move). */
  jointProposals = 0;
  /** Each broker's metadata view (an index into history): it only moves forward, and outlives leaderships. */
  private readonly views = new Map<NodeId, number>();
  private term = 1;

  constructor(original: readonly NodeId[], target: readonly NodeId[]) {
    this.original = original;
    this.target = target;
    const boot: ConfigState = { voters: [...original].sort((a, b) => a - b), votersOutgoing: [], learners: [], learnersNext: [] };
    this.history.push({ move: newMove({ moveId: 1, original, target, reason: 'operator', atMs: 0 }), outcome: null, replicas: original, cancelAsked: false });
    this.leader = this.newLeader(original[0]!, [{ config: boot }], 1, true);
    for (const id of new Set([...original, ...target])) this.progress.set(id, { caughtUp: original.includes(id), alive: true });
  }

  get meta(): Meta {
    return this.history[this.history.length - 1]!;
  }

  run(event: ModelEvent): void {
    switch (event.kind) {
      case 'step':
        this.stepLeader(this.leader);
        break;
      case 'staleStep':
        if (this.stale.length > 0) this.stepLeader(this.stale[event.pick % this.stale.length]!);
        break;
      case 'commit':
        this.commit();
        break;
      case 'leaderChange':
        this.changeLeader(event.pick, event.keepSuffix);
        break;
      case 'metaCatchUp': {
        const who = event.who % 2 === 0 || this.stale.length === 0 ? this.leader : this.stale[event.who % this.stale.length]!;
        this.setView(who, this.viewOf(who) + 1 + (event.who % 3));
        break;
      }
      case 'deliver':
        if (this.reports.length > 0) this.decide(applyMoveReport(this.meta.move, this.reports.splice(event.pick % this.reports.length, 1)[0]!));
        break;
      case 'cancel':
        this.decide(cancelMove(this.meta.move, 'operator'), true);
        break;
      case 'admit':
        if (this.meta.move !== null) this.decide(startMove(this.meta.move, this.nowMs));
        break;
      case 'progress':
      case 'alive': {
        const adding = this.target.filter((id) => !this.original.includes(id));
        if (adding.length === 0) break;
        const p = this.progress.get(adding[event.pick % adding.length]!)!;
        if (event.kind === 'progress') p.caughtUp = event.caughtUp;
        else p.alive = event.alive;
        break;
      }
      case 'dropStale':
        if (this.stale.length > 0) this.stale.splice(event.pick % this.stale.length, 1);
        break;
      case 'time':
        this.nowMs += event.ms;
        break;
    }
    this.check();
  }

  /** Faults stop: everyone is alive and caught up, views and reports flow. True once the move ended and the group matches. */
  heal(roundsMax: number): boolean {
    for (const p of this.progress.values()) {
      p.alive = true;
      p.caughtUp = true;
    }
    this.stale.length = 0;
    for (let round = 0; round < roundsMax; round++) {
      this.run({ kind: 'admit' });
      this.run({ kind: 'commit' });
      this.run({ kind: 'metaCatchUp', who: 0 });
      this.run({ kind: 'step' });
      while (this.reports.length > 0) this.run({ kind: 'deliver', pick: 0 });
      this.run({ kind: 'time', ms: 250 });
      if (this.settled()) return true;
    }
    return false;
  }

  /** The move is over, and the group runs, committed and without learners, on the replicas the metadata names. */
  settled(): boolean {
    const config = this.leader.log[this.leader.log.length - 1]!.config;
    return (
      this.meta.move === null &&
      this.leader.committed === this.leader.log.length &&
      !isJoint(config) &&
      config.learners.length === 0 &&
      sameMembers(config.voters, this.meta.replicas)
    );
  }

  private newLeader(id: NodeId, log: Entry[], committed: number, writable: boolean): Leader {
    return { id, term: this.term++, log, committed, writable, memo: null, freshTerm: 0, confirmedVersion: -1 };
  }

  private viewOf(leader: Leader): number {
    return this.views.get(leader.id) ?? 0;
  }

  private setView(leader: Leader, version: number): void {
    this.views.set(leader.id, Math.max(this.viewOf(leader), Math.min(version, this.history.length - 1)));
  }

  private view(leader: Leader): GroupView {
    const config = leader.log[leader.log.length - 1]!.config;
    const progress = new Map<NodeId, ReplicaProgress>();
    for (const [id, p] of this.progress) {
      progress.set(id, { entriesBehind: p.caughtUp ? 0 : 10_000, bytesBehind: p.caughtUp ? 0 : 1 << 30, heardAgoMs: p.alive ? 0 : Infinity });
    }
    return {
      self: leader.id,
      term: leader.term,
      leading: leader.writable,
      config,
      configCommitted: leader.committed === leader.log.length,
      transferee: 0,
      progress,
      metadataFresh: leader.freshTerm === leader.term,
      leadershipConfirmed: leader.confirmedVersion >= this.viewOf(leader),
    };
  }

  private stepLeader(leader: Leader): void {
    const isTrue = leader === this.leader;
    const step = stepMove(this.history[this.viewOf(leader)]!.move, leader.memo, this.view(leader), this.nowMs);
    leader.memo = step.memo;
    const action = step.action;
    switch (action.type) {
      case 'wait':
        return;
      case 'refreshMetadata':
        // The metadata group is healthy: a deposed partition leader's read of it succeeds too.
        this.setView(leader, this.history.length - 1);
        leader.freshTerm = leader.term;
        return;
      case 'confirmLeadership':
        if (isTrue) leader.confirmedVersion = this.viewOf(leader);
        return;
      case 'report':
        this.reports.push(action.report);
        return;
      case 'transferLeadership':
        if (isTrue && this.voters(this.lastConfig(leader)).includes(action.to) && this.progress.get(action.to)?.alive !== false && this.nowMs % 3 !== 0) {
          this.stale.push(leader);
          this.leader = this.newLeader(action.to, [...leader.log], leader.committed, false);
        }
        return;
      case 'propose':
        this.propose(leader, action.changes);
        return;
    }
  }

  private propose(leader: Leader, changes: readonly ConfChange[]): void {
    const current = this.lastConfig(leader);
    if (leader.committed !== leader.log.length || isJoint(current)) throw new Error('stepMove proposed while a change was in flight (the core refuses that)');
    const next = applyConfEntry(current, { kind: 'enterJoint', changes });
    if (typeof next === 'string') throw new Error(`stepMove proposed a change the core refuses: ${next} (${JSON.stringify(changes)})`);
    if (!sameMembers(next.voters, current.voters)) {
      this.jointProposals++;
      const behind = changes.filter((c) => c.type === 'addVoter' && !this.progress.get(c.node)!.caughtUp);
      if (behind.length > 0) this.violations.push(`voters ${JSON.stringify(behind)} added while behind`);
    }
    leader.log.push({ config: next });
  }

  private commit(): void {
    const leader = this.leader;
    const config = this.lastConfig(leader);
    const alive = (id: NodeId): boolean => this.progress.get(id)?.alive !== false;
    const quorum = (voters: readonly NodeId[]): boolean => voters.length === 0 || voters.filter(alive).length > voters.length / 2;
    if (!quorum(config.voters) || !quorum(config.votersOutgoing)) return;
    leader.committed = leader.log.length;
    leader.writable = true;
    if (isJoint(config)) {
      // The core leaves a committed joint configuration by itself.
      const left = applyConfEntry(config, { kind: 'leaveJoint' });
      if (typeof left === 'string') throw new Error(left);
      leader.log.push({ config: left });
    }
    const committed = leader.log[leader.committed - 1]!.config;
    if (!committed.voters.includes(leader.id) && !isJoint(committed)) {
      // A leader outside the committed configuration steps down; a voter of it takes over with the whole log.
      this.stale.push(leader);
      this.leader = this.newLeader(committed.voters[0]!, [...leader.log], leader.committed, false);
    }
  }

  private changeLeader(pick: number, keepSuffix: boolean): void {
    const old = this.leader;
    // A new leader holds every committed entry, and maybe the old leader's uncommitted ones; it is a voter of its own log's configuration.
    const log = keepSuffix ? [...old.log] : old.log.slice(0, old.committed);
    const candidates = this.voters(log[log.length - 1]!.config).filter((id) => this.progress.get(id)?.alive !== false);
    if (candidates.length === 0) return;
    const id = candidates[pick % candidates.length]!;
    this.stale.push(old);
    this.leader = this.newLeader(id, log, old.committed, false);
  }

  private decide(decision: MoveDecision, cancel = false): void {
    const meta = this.meta;
    const cancelAsked = meta.cancelAsked || cancel;
    switch (decision.kind) {
      case 'refused':
      case 'unchanged':
        if (cancelAsked !== meta.cancelAsked) this.history.push({ ...meta, cancelAsked });
        return;
      case 'updated':
        this.history.push({ ...meta, move: decision.move, cancelAsked });
        return;
      case 'finished':
        this.history.push({ move: null, outcome: decision.outcome, replicas: decision.replicas, cancelAsked });
        return;
    }
  }

  private lastConfig(leader: Leader): ConfigState {
    return leader.log[leader.log.length - 1]!.config;
  }

  private voters(config: ConfigState): NodeId[] {
    return [...new Set([...config.voters, ...config.votersOutgoing])];
  }

  /** The invariants, after every event. */
  private check(): void {
    const adding = this.target.filter((id) => !this.original.includes(id));
    for (const leader of [this.leader, ...this.stale]) {
      for (const { config } of leader.log) {
        // A change of learners alone is a joint of a set with itself.
        const outgoing = isJoint(config) ? config.votersOutgoing : config.voters;
        const ok =
          (sameMembers(config.voters, this.original) && sameMembers(outgoing, this.original)) ||
          (sameMembers(config.voters, this.target) && (sameMembers(outgoing, this.target) || sameMembers(outgoing, this.original)));
        if (!ok) throw new Error(`a configuration whose quorums are neither the original's nor the target's: ${JSON.stringify(config)}`);
        if (!config.learners.every((id) => adding.includes(id))) throw new Error(`learners outside the move: ${JSON.stringify(config)}`);
      }
    }
    const committed = this.leader.log.slice(0, this.leader.committed).map((e) => e.config);
    if (this.meta.outcome === 'cancelled') {
      // Once the metadata says cancelled, the group must never get the new voters, committed or not.
      if (this.leader.log.some((e) => !sameMembers(e.config.voters, this.original) || !e.config.votersOutgoing.every((id) => this.original.includes(id)))) {
        throw new Error('the metadata says cancelled but the group took the new voters');
      }
    }
    if (this.history.some((m) => m.outcome === 'done')) {
      const last = committed[committed.length - 1]!;
      if (!sameMembers(last.voters, this.target) || !last.votersOutgoing.every((id) => this.target.includes(id))) throw new Error('the metadata says done but the group does not run on the target');
    }
    if (this.violations.length > 0) throw new Error(this.violations.join('; '));
  }
}

export { defaultStepOptions };
