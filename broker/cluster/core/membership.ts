import { clusterLimits } from '../../../transport/limits.js';
import { isJoint, type ConfChange } from '../../raft/core/membership.js';
import type { ConfigState, NodeId } from '../../raft/core/types.js';
import type { BrokerState } from './brokers.js';

/**
 * The metadata group's membership, as the controller keeps it: every broker
 * the metadata knows (and has not decommissioned for good) follows the group,
 * as a voter or a learner, so it answers metadata from its own copy and the
 * controller hears from it. A pure function of the registered brokers and
 * what the controller (the group's leader) observes of its group; the
 * controller's membership driver calls it on every change and every
 * clusterLimits.moveStepEveryMs and carries out the one action returned.
 *
 * - a registered broker that is no member becomes a learner (all in one change);
 * - a gone broker that is still a learner is removed;
 * - a joining broker whose learner replica has caught up is activated: from
 *   then on it takes replicas.
 * Voters change only by an operator's add-voter / remove-voter, never here.
 */
export interface MetadataGroupView {
  readonly config: ConfigState;
  readonly configCommitted: boolean;
  readonly lastIndex: number;
  /** The leader's view of the other members. */
  readonly progress: ReadonlyMap<NodeId, { readonly match: number; readonly heardAgoMs: number }>;
}

export type MembershipAction =
  | { readonly type: 'wait' }
  | { readonly type: 'propose'; readonly changes: readonly ConfChange[]; readonly detail: string }
  | { readonly type: 'activate'; readonly id: number };

export interface MembershipOptions {
  readonly entriesBehindMax: number;
  readonly heardWithinMs: number;
}

export const defaultMembershipOptions: MembershipOptions = {
  entriesBehindMax: clusterLimits.caughtUpEntriesBehindMax,
  heardWithinMs: clusterLimits.caughtUpHeardWithinMs,
};

export function stepMembership(
  brokers: ReadonlyArray<{ readonly id: number; readonly state: BrokerState }>,
  group: MetadataGroupView,
  options: MembershipOptions = defaultMembershipOptions,
): MembershipAction {
  const { config } = group;
  // One change at a time: the core refuses a second while one is in flight anyway.
  if (isJoint(config) || !group.configCommitted) return { type: 'wait' };
  const members = new Set([...config.voters, ...config.learners]);
  const missing = brokers.filter((b) => b.state !== 'gone' && !members.has(b.id)).map((b) => b.id);
  if (missing.length > 0) return { type: 'propose', changes: missing.map((node) => ({ type: 'addLearner', node })), detail: `adding brokers [${missing.join(',')}] to the metadata group as learners` };
  const gone = new Set(brokers.filter((b) => b.state === 'gone').map((b) => b.id));
  const leaving = config.learners.filter((id) => gone.has(id));
  if (leaving.length > 0) return { type: 'propose', changes: leaving.map((node) => ({ type: 'remove', node })), detail: `removing decommissioned brokers [${leaving.join(',')}] from the metadata group` };
  for (const broker of brokers) {
    if (broker.state !== 'joining' || !config.learners.includes(broker.id)) continue;
    const p = group.progress.get(broker.id);
    if (p !== undefined && group.lastIndex - p.match <= options.entriesBehindMax && p.heardAgoMs <= options.heardWithinMs) return { type: 'activate', id: broker.id };
  }
  return { type: 'wait' };
}

/**
 * An operator's change of the metadata group's voters (add-voter / remove-voter), checked against the
 * group as its leader sees it: the changes to propose (one joint configuration), or a typed refusal.
 * A voter leaving is demoted to learner, not removed: as a broker it still needs the metadata.
 */
export function voterChange(
  request: { readonly add?: number; readonly remove?: number },
  brokers: ReadonlyMap<number, BrokerState>,
  group: MetadataGroupView,
  options: MembershipOptions & { readonly votersMax: number } = { ...defaultMembershipOptions, votersMax: clusterLimits.controllerVotersMax },
): { changes: ConfChange[] } | { error: { code: 'INVALID_VOTER_CHANGE' | 'INVALID_BROKER_STATE' | 'UNKNOWN_BROKER' | 'RECONFIGURATION_IN_PROGRESS'; message: string } } {
  const { config } = group;
  if (isJoint(config) || !group.configCommitted) return { error: { code: 'RECONFIGURATION_IN_PROGRESS', message: 'a change of the metadata group is still in flight; try again' } };
  const id = request.add ?? request.remove!;
  const state = brokers.get(id);
  if (state === undefined) return { error: { code: 'UNKNOWN_BROKER', message: `the cluster has no broker ${id}` } };
  if (request.add !== undefined) {
    if (config.voters.includes(id)) return { error: { code: 'INVALID_VOTER_CHANGE', message: `broker ${id} is a voter already` } };
    if (state !== 'active') return { error: { code: 'INVALID_BROKER_STATE', message: `broker ${id} is ${state}: only an active broker becomes a voter` } };
    if (config.voters.length >= options.votersMax) return { error: { code: 'INVALID_VOTER_CHANGE', message: `the metadata group has ${config.voters.length} voters, its limit (controllerVotersMax ${options.votersMax})` } };
    const p = group.progress.get(id);
    const caughtUp = config.learners.includes(id) && p !== undefined && group.lastIndex - p.match <= options.entriesBehindMax && p.heardAgoMs <= options.heardWithinMs;
    if (!caughtUp) return { error: { code: 'RECONFIGURATION_IN_PROGRESS', message: `broker ${id} has not caught up with the metadata yet; try again` } };
    return { changes: [{ type: 'addVoter', node: id }] };
  }
  if (!config.voters.includes(id)) return { error: { code: 'INVALID_VOTER_CHANGE', message: `broker ${id} is not a voter` } };
  if (config.voters.length === 1) return { error: { code: 'INVALID_VOTER_CHANGE', message: 'the metadata group needs a voter: add another before removing this one' } };
  return { changes: [{ type: 'addLearner', node: id }] };
}
