import { systemClock } from '../../transport/clock.js';
import { clusterLimits } from '../../transport/limits.js';
import type { Controller } from './controller.js';
import { stepMembership } from './core/membership.js';
import { movesToAdmit } from './core/move-record.js';
import { evacuationStep } from './evacuation.js';

/**
 * What the controller keeps doing by itself, run on every broker and acting
 * only on the controller, every clusterLimits.moveStepEveryMs and after every
 * metadata change:
 * - the metadata group's membership follows the registered brokers (core/membership.ts);
 * - queued partition moves are admitted, oldest first, while fewer than
 *   `movesInFlight` are catching up or committing (the rest wait, queued, in the metadata);
 * - brokers being decommissioned are emptied, then declared gone (evacuation.ts).
 * One action of each kind at a time; a failed one (leadership lost, a change
 * in flight) is decided afresh at the next step from what is observed.
 */
export interface ControllerDutiesOptions {
  controller: Controller;
  movesInFlight: number;
  aliveBrokers: () => Set<number>;
  onNotice: (message: string) => void;
}

export class ControllerDuties {
  private cancelTimer: (() => void) | null = null;
  private readonly busy = new Set<'membership' | 'admission' | 'evacuation'>();
  private readonly unsubscribe: () => void;

  constructor(private readonly options: ControllerDutiesOptions) {
    this.cancelTimer = systemClock.every(clusterLimits.moveStepEveryMs, () => this.step(), { keepAlive: false });
    this.unsubscribe = options.controller.onChange(() => this.step());
  }

  private step(): void {
    if (this.cancelTimer === null || !this.options.controller.isLeader()) return;
    this.run('membership', () => this.membership());
    this.run('admission', () => this.admission());
    this.run('evacuation', () => evacuationStep(this.options.controller, this.options.aliveBrokers(), systemClock.epochMs(), (message) => this.noticeOnce(message)));
  }

  /** A condition that persists (a decommission waiting for brokers) is said once, not every step. */
  private lastNotice = '';
  private noticeOnce(message: string): void {
    if (message === this.lastNotice) return;
    this.lastNotice = message;
    this.options.onNotice(message);
  }

  private run(kind: 'membership' | 'admission' | 'evacuation', action: () => Promise<unknown> | null): void {
    if (this.busy.has(kind)) return;
    const running = action();
    if (running === null) return;
    this.busy.add(kind);
    running.catch(() => {}).finally(() => this.busy.delete(kind));
  }

  private membership(): Promise<unknown> | null {
    const { controller, onNotice } = this.options;
    const state = controller.state;
    const brokers = state.brokerList().map((b) => ({ id: b.id, state: state.lifecycle(b.id)?.state ?? 'active' }));
    const action = stepMembership(brokers, controller.groupView());
    if (action.type === 'wait') return null;
    if (action.type === 'propose') return controller.raft.changeMembership(action.changes).then(() => onNotice(action.detail));
    return controller.propose({ type: 'activateBroker', id: action.id }).then(() => onNotice(`broker ${action.id} caught up with the metadata and is active`));
  }

  private admission(): Promise<unknown> | null {
    const { controller } = this.options;
    const moves = controller.state.moves();
    const admit = movesToAdmit(moves.map((m) => ({ key: m, move: m.move })), this.options.movesInFlight);
    if (admit.length === 0) return null;
    const atMs = systemClock.epochMs();
    return controller.propose({ type: 'startMoves', moves: admit.map((m) => ({ topicId: m.topic.topicId, partition: m.partition.partition, moveId: m.move.moveId })), atMs });
  }

  close(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
    this.unsubscribe();
  }
}
