/**
 * The cluster's view of its brokers, as the planners and the move state
 * machine see it. A broker's lifecycle state is durable (it lives in the
 * metadata log); whether it is alive is the controller's soft view (heard
 * from recently), never written to the log.
 *
 * - joining: registered, its metadata replica still catching up; it takes no replicas.
 * - active: a full member; new replicas may be placed on it while it is alive.
 * - decommissioning: its replicas are being moved off; it takes no new ones.
 * - gone: decommissioned for good; its id is never used again.
 */
export type BrokerState = 'joining' | 'active' | 'decommissioning' | 'gone';

export const brokerStates: readonly BrokerState[] = ['joining', 'active', 'decommissioning', 'gone'];

export interface BrokerView {
  readonly id: number;
  readonly state: BrokerState;
  readonly alive: boolean;
}

/** May a new replica be placed on this broker? */
export function placeable(broker: BrokerView | undefined): boolean {
  return broker !== undefined && broker.state === 'active' && broker.alive;
}

/** Must every replica leave this broker? (An unknown broker counts as gone.) */
export function evacuating(broker: BrokerView | undefined): boolean {
  return broker === undefined || broker.state === 'decommissioning' || broker.state === 'gone';
}

/** The smallest number of a group's voters that decides: a majority. */
export function majority(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

export function sameMembers(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((id) => set.has(id));
}
