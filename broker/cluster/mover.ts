import { systemClock } from '../../transport/clock.js';
import { clusterLimits } from '../../transport/limits.js';
import type { ReplicaCatchUp } from '../../transport/protocol/reassignment.js';
import type { Partition } from '../partition/partition.js';
import type { ControllerOperation } from './controller-service.js';
import type { Controller } from './controller.js';
import { stepMove, type GroupView, type MoveAction, type MoveMemo, type ReplicaProgress } from './core/reassignment.js';
import type { MoveRecord } from './core/move-record.js';
import type { MoveProgressReport } from './move-service.js';

/**
 * Carries out partition moves on the broker that leads each partition: for
 * every partition it leads that the metadata shows moving (or whose group
 * holds learners nobody wants), it steps the pure state machine
 * (core/reassignment.ts) every clusterLimits.moveStepEveryMs and after every
 * metadata change, and does the one action returned. Everything it decides
 * from is observed afresh, so a new leader, a restart or a new controller
 * simply carries on. Every clusterLimits.moveProgressEveryMs it tells the
 * controller how its moves progress (soft state, for listReassignments).
 */
export interface MoverOptions {
  brokerId: number;
  controller: Controller;
  partitions: () => Iterable<Partition>;
  /** Runs a controller operation (here or forwarded). */
  run: (operation: ControllerOperation, signal: AbortSignal) => Promise<unknown>;
  signal: AbortSignal;
}

interface GroupMemo {
  memo: MoveMemo | null;
  /** The partition term in which a linearizable metadata read, issued in that term, completed. */
  metadataFreshTerm: number;
  /** `${term}:${moveId}`: a read on the group, issued after the cancel was visible here, confirmed leadership. */
  confirmed: string;
  busy: boolean;
  stage: string;
  detail: string;
  /** Reports sent lately, by `${moveId}:${to}`, and when: not repeated while the metadata catches up. */
  reported: Map<string, number>;
}

const reportRepeatMs = 1_000;

export class Mover {
  private readonly groups = new Map<Partition, GroupMemo>();
  private readonly cancelTimers: Array<() => void>;
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(private readonly options: MoverOptions) {
    this.cancelTimers = [
      systemClock.every(clusterLimits.moveStepEveryMs, () => this.stepAll(), { keepAlive: false }),
      systemClock.every(clusterLimits.moveProgressEveryMs, () => this.reportProgress(), { keepAlive: false }),
    ];
    this.unsubscribe = options.controller.onChange(() => this.stepAll());
  }

  close(): void {
    this.closed = true;
    for (const cancel of this.cancelTimers) cancel();
    this.unsubscribe();
  }

  private moveOf(partition: Partition): MoveRecord | null {
    return this.options.controller.state.topicById(partition.topicId)?.partitions[partition.partition]?.move ?? null;
  }

  private stepAll(): void {
    if (this.closed) return;
    const seen = new Set<Partition>();
    for (const partition of this.options.partitions()) {
      seen.add(partition);
      if (partition.closed || !partition.isLeader()) continue;
      const move = this.moveOf(partition);
      if (move === null && partition.raft.status().config.learners.length === 0) continue;
      this.step(partition, move);
    }
    for (const partition of this.groups.keys()) if (!seen.has(partition)) this.groups.delete(partition);
  }

  private step(partition: Partition, move: MoveRecord | null): void {
    let g = this.groups.get(partition);
    if (g === undefined) this.groups.set(partition, (g = { memo: null, metadataFreshTerm: 0, confirmed: '', busy: false, stage: 'idle', detail: '', reported: new Map() }));
    if (g.busy) return;
    const view = this.view(partition, g, move);
    const step = stepMove(move, g.memo, view, systemClock.nowMs());
    g.memo = step.memo;
    g.stage = step.stage;
    g.detail = step.detail;
    this.act(partition, g, move, view.term, step.action);
  }

  private view(partition: Partition, g: GroupMemo, move: MoveRecord | null): GroupView {
    const status = partition.raft.status();
    const progress = new Map<number, ReplicaProgress>();
    for (const [id, p] of partition.raft.peerProgress()) progress.set(id, { entriesBehind: status.lastIndex - p.match, bytesBehind: bytesBehind(partition, status.lastIndex - p.match), heardAgoMs: p.heardAgoMs });
    return {
      self: this.options.brokerId,
      term: status.term,
      leading: partition.isLeader(),
      config: status.config,
      configCommitted: status.configIndex <= status.commit,
      transferee: status.transferee,
      progress,
      metadataFresh: g.metadataFreshTerm === status.term,
      leadershipConfirmed: move !== null && g.confirmed === `${status.term}:${move.moveId}`,
    };
  }

  private act(partition: Partition, g: GroupMemo, move: MoveRecord | null, term: number, action: MoveAction): void {
    const finish = (work: Promise<unknown>): void => {
      g.busy = true;
      work
        .catch(() => {})
        .finally(() => {
          g.busy = false;
        });
    };
    switch (action.type) {
      case 'wait':
        return;
      case 'propose':
        return finish(partition.raft.changeMembership(action.changes));
      case 'transferLeadership':
        try {
          partition.raft.transferLeadership(action.to);
        } catch {
          // Leadership changed under us: the next step sees it.
        }
        return;
      case 'refreshMetadata':
        return finish(this.options.controller.raft.read({ signal: this.options.signal }).then(() => (g.metadataFreshTerm = term)));
      case 'confirmLeadership': {
        const key = `${term}:${move!.moveId}`;
        return finish(partition.raft.read({ signal: this.options.signal }).then(() => (g.confirmed = key)));
      }
      case 'report': {
        const key = `${action.report.moveId}:${action.report.to}`;
        const now = systemClock.nowMs();
        if (now - (g.reported.get(key) ?? -Infinity) < reportRepeatMs) return;
        g.reported.set(key, now);
        const operation: ControllerOperation = { op: 'moveReport', topicId: partition.topicId, partition: partition.partition, report: action.report };
        return finish(this.options.run(operation, this.options.signal).catch((error: unknown) => {
          g.reported.delete(key);
          throw error;
        }));
      }
    }
  }

  /** One progress report to the controller for the moves this broker leads. */
  private reportProgress(): void {
    if (this.closed) return;
    const reports: MoveProgressReport[] = [];
    for (const [partition, g] of this.groups) {
      const move = this.moveOf(partition);
      if (move === null || partition.closed || !partition.isLeader()) continue;
      const status = partition.raft.status();
      const peers = partition.raft.peerProgress();
      const replicas: ReplicaCatchUp[] = move.target
        .filter((id) => !move.original.includes(id))
        .map((id) => {
          const p = peers.get(id);
          const entriesBehind = p === undefined ? status.lastIndex : status.lastIndex - p.match;
          const caughtUp = (g.memo?.caughtUpSinceMs.has(id) ?? false) || status.config.voters.includes(id);
          return { broker: id, entriesBehind, offsetsBehind: offsetsBehind(partition, p?.match ?? 0), bytesBehind: bytesBehind(partition, entriesBehind), caughtUp, heardAgoMs: p === undefined || !Number.isFinite(p.heardAgoMs) ? null : Math.round(p.heardAgoMs) };
        });
      reports.push({ moveId: move.moveId, stage: g.stage, detail: g.detail.slice(0, 200), replicas });
      if (reports.length >= clusterLimits.movesInFlightMax) break;
    }
    if (reports.length === 0) return;
    this.options.run({ op: 'moveProgress', reports }, this.options.signal).catch(() => {});
  }
}

/** An estimate: entries behind times the log's mean entry size (exact sizes would need an index per entry). */
function bytesBehind(partition: Partition, entries: number): number {
  if (entries <= 0) return 0;
  const stats = partition.log.stats();
  const held = Math.max(1, stats.lastIndex - partition.log.firstIndex() + 1);
  return Math.round((stats.logBytes / held) * entries);
}

/** Records the replica lacks: the leader's end offset minus the offset after its last matched entry. */
function offsetsBehind(partition: Partition, match: number): number {
  const log = partition.log;
  if (match < log.firstIndex()) return log.endOffset - log.startOffset;
  if (match >= log.lastIndex()) return 0;
  try {
    return Math.max(0, log.endOffset - log.headerAt(match + 1).baseOffset);
  } catch {
    return log.endOffset - log.startOffset;
  }
}
