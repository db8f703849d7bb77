import { clusterLimits } from '../../transport/limits.js';
import type { Controller } from './controller.js';
import { stepMembership } from './core/membership.js';

/**
 * Runs on every broker, acts only on the controller: keeps the metadata
 * group's membership in line with the registered brokers (core/membership.ts)
 * every clusterLimits.moveStepEveryMs and after every metadata change. One
 * action at a time; a failed one (leadership lost, a change in flight) is
 * simply stepped again later, since the decision is made afresh from what is
 * observed.
 */
export class MembershipDriver {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly controller: Controller,
    private readonly onNotice: (message: string) => void,
  ) {
    this.timer = setInterval(() => this.step(), clusterLimits.moveStepEveryMs);
    this.timer.unref();
    this.unsubscribe = controller.onChange(() => this.step());
  }

  private step(): void {
    if (this.busy || this.timer === null || !this.controller.isLeader()) return;
    const state = this.controller.state;
    const brokers = state.brokerList().map((b) => ({ id: b.id, state: state.lifecycle(b.id)?.state ?? 'active' }));
    const action = stepMembership(brokers, this.controller.groupView());
    if (action.type === 'wait') return;
    this.busy = true;
    const done =
      action.type === 'propose'
        ? this.controller.raft.changeMembership(action.changes).then(() => this.onNotice(action.detail))
        : this.controller.propose({ type: 'activateBroker', id: action.id }).then(() => this.onNotice(`broker ${action.id} caught up with the metadata and is active`));
    done.catch(() => {}).finally(() => (this.busy = false));
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.unsubscribe();
  }
}
