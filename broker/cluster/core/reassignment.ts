import { clusterLimits } from '../../../transport/limits.js';
import { isJoint, type ConfChange } from '../../raft/core/membership.js';
import type { ConfigState, NodeId } from '../../raft/core/types.js';
import { sameMembers } from './brokers.js';
import type { MoveRecord, MoveReport } from './move-record.js';

/**
 * What the leader of a partition's Raft group does next about the move the
 * metadata records for it: a pure function of the move, what the leader
 * observes of its group, the time and a small memo it keeps between calls.
 * No timers, no I/O: the broker's mover calls it on every change and every
 * clusterLimits.moveStepEveryMs, carries out the one action it returns, and
 * calls again. Because every decision is made from what is observed (the
 * group's configuration is in its log, the move in the metadata), a new
 * leader, a restarted broker or a new controller simply carries on.
 *
 * Forward, with R the original replicas and T the target:
 *   add learners (T\R) ─▶ wait until each is caught up ─▶ hand leadership to a
 *   replica in R∩T if the leader is leaving ─▶ propose the joint configuration
 *   (T\R become voters, R\T leave) ─▶ the Raft core leaves the joint
 *   configuration by itself ─▶ report done once T alone is committed.
 * Cancelled (before the joint configuration): remove the learners ─▶ report
 * cancelled once R alone is committed.
 *
 * The handover comes before the joint proposal, not after: the core leaves a
 * joint configuration the moment it commits, so there is no moment "in
 * joint" to act in, and a leader outside the new configuration would lead
 * until then and step down, costing the partition an election. When R∩T is
 * empty there is nobody to hand to before; that leader commits the change
 * and steps down.
 *
 * Safety rests on three rules, each checked here from flags the driver sets:
 * - every configuration proposed has voters R, or T, or is the joint of R
 *   and T, so a commit always needs a majority of R or of T (or both);
 * - learners become voters only once caught up, so the new majority can commit at once;
 * - the metadata and the group never disagree on how a move ended. "Done" is
 *   reported only from the target configuration committed (permanent).
 *   "Cancelled" is reported only by a leader whose leadership a read on its
 *   group confirmed after it saw the cancel, and a leader proposes the joint
 *   configuration only from a metadata view a linearizable read confirmed in
 *   its current term: so once a cancel is reported, no leader, now or later,
 *   can still propose the new voters.
 */

export interface ReplicaProgress {
  /** Entries of the leader's log the replica does not hold yet (the leader's last index minus its match). */
  readonly entriesBehind: number;
  readonly bytesBehind: number;
  /** Since the leader last heard from it (Infinity: never). */
  readonly heardAgoMs: number;
}

export interface GroupView {
  readonly self: NodeId;
  /** The Raft term of this view: a new leadership starts a new memo. */
  readonly term: number;
  /** This replica leads and has committed an entry of its term, so no configuration missing from its log can ever commit. */
  readonly leading: boolean;
  /** The latest configuration in the leader's log, committed or not. */
  readonly config: ConfigState;
  /** The entry that made `config` is committed. */
  readonly configCommitted: boolean;
  /** A leadership transfer under way (0: none). */
  readonly transferee: NodeId;
  /** The leader's view of the other members. */
  readonly progress: ReadonlyMap<NodeId, ReplicaProgress>;
  /** The metadata view (the `move` passed in) was confirmed by a linearizable read of the metadata in this term. */
  readonly metadataFresh: boolean;
  /** A read on this group, issued after that metadata view was applied here, confirmed this replica still leads. */
  readonly leadershipConfirmed: boolean;
  /** Permanent learners that are no part of any move (the metadata group's observers); empty for partitions. */
  readonly observers?: ReadonlySet<NodeId>;
}

export interface StepOptions {
  readonly entriesBehindMax: number;
  readonly bytesBehindMax: number;
  readonly heardWithinMs: number;
  readonly stableMs: number;
  readonly leaderTransferTimeoutMs: number;
}

export const defaultStepOptions: StepOptions = {
  entriesBehindMax: clusterLimits.caughtUpEntriesBehindMax,
  bytesBehindMax: clusterLimits.caughtUpBytesBehindMax,
  heardWithinMs: clusterLimits.caughtUpHeardWithinMs,
  stableMs: clusterLimits.caughtUpStableMs,
  leaderTransferTimeoutMs: clusterLimits.moveLeaderTransferTimeoutMs,
};

/** What the leader remembers between steps of one move in one term. */
export interface MoveMemo {
  readonly moveId: number;
  readonly term: number;
  /** Since when each new replica has been caught up without a break. */
  readonly caughtUpSinceMs: ReadonlyMap<NodeId, number>;
  /** The first handover attempt of this term, if any. */
  readonly transferSinceMs: number | null;
}

export type MoveStage =
  | 'notLeader'
  | 'queued'
  | 'addingLearners'
  | 'catchingUp'
  | 'transferringLeader'
  | 'joint'
  | 'finalizing'
  | 'rollingBack'
  | 'sweeping'
  | 'idle'
  | 'stuck';

export type MoveAction =
  | { readonly type: 'wait' }
  | { readonly type: 'propose'; readonly changes: readonly ConfChange[] }
  | { readonly type: 'transferLeadership'; readonly to: NodeId }
  /** Confirm the metadata view with a linearizable read, then step again. */
  | { readonly type: 'refreshMetadata' }
  /** Confirm leadership with a read on the group, then step again. */
  | { readonly type: 'confirmLeadership' }
  | { readonly type: 'report'; readonly report: MoveReport };

export interface MoveStep {
  readonly stage: MoveStage;
  readonly action: MoveAction;
  /** Why, in words, for describe and logs. */
  readonly detail: string;
  /** The new replicas caught up right now (for progress). */
  readonly caughtUp: readonly NodeId[];
  readonly memo: MoveMemo | null;
}

type Shape = 'original' | 'joint' | 'target' | 'other';

/** One step for `move` (null: no move, and the step only sweeps learners a finished move left behind). */
export function stepMove(move: MoveRecord | null, memo: MoveMemo | null, group: GroupView, nowMs: number, options: StepOptions = defaultStepOptions): MoveStep {
  if (!group.leading) return out('notLeader', { type: 'wait' }, 'this replica does not lead the group', null);
  if (move === null) return sweep(group);
  const plan = planOf(move, group);
  const fresh = memo !== null && memo.moveId === move.moveId && memo.term === group.term ? memo : { moveId: move.moveId, term: group.term, caughtUpSinceMs: new Map(), transferSinceMs: null };
  if (move.phase === 'queued') return out('queued', { type: 'wait' }, 'waiting for a move slot', fresh);
  const shape = shapeOf(group.config, plan);
  if (shape === 'other') return out('stuck', { type: 'wait' }, `the group's configuration ${describe(group.config)} is neither [${move.original.join(',')}], [${move.target.join(',')}] nor between them`, fresh);
  if (shape === 'joint') {
    // Committed, it is left at once by the core; reporting it makes a late cancel fail fast.
    if (group.configCommitted && move.phase === 'adding') return out('joint', report(move, 'joint'), 'the joint configuration is committed', fresh);
    return out('joint', { type: 'wait' }, 'the joint configuration is committing', fresh);
  }
  if (shape === 'target') {
    if (!group.configCommitted || isJoint(group.config)) {
      // Only a committed joint configuration is ever left: the move can no longer stop.
      if (move.phase === 'adding') return out('finalizing', report(move, 'joint'), 'the joint configuration is committed', fresh);
      return out('finalizing', { type: 'wait' }, 'the target configuration is committing', fresh);
    }
    const strays = group.config.learners.filter((id) => !plan.observers.has(id));
    if (strays.length > 0) return out('finalizing', propose(strays.map((node) => ({ type: 'remove', node }))), `removing learners [${strays.join(',')}]`, fresh);
    return out('finalizing', report(move, 'done'), `the group runs on [${move.target.join(',')}]`, fresh);
  }
  if (!group.configCommitted || isJoint(group.config)) {
    return out(move.cancelReason === null || move.phase === 'joint' ? 'addingLearners' : 'rollingBack', { type: 'wait' }, 'a membership change is committing', fresh);
  }
  if (move.phase === 'adding' && move.cancelReason !== null) return rollBack(move, plan, group, fresh);
  return forward(move, plan, group, nowMs, options, fresh);
}

interface Plan {
  readonly original: readonly NodeId[];
  readonly target: readonly NodeId[];
  readonly adding: readonly NodeId[];
  readonly leaving: readonly NodeId[];
  readonly staying: readonly NodeId[];
  readonly observers: ReadonlySet<NodeId>;
}

function planOf(move: MoveRecord, group: GroupView): Plan {
  const observers = group.observers ?? new Set<NodeId>();
  return {
    original: move.original,
    target: move.target,
    adding: move.target.filter((id) => !move.original.includes(id)),
    leaving: move.original.filter((id) => !move.target.includes(id)),
    staying: move.original.filter((id) => move.target.includes(id)),
    observers,
  };
}

/**
 * Where the configuration stands relative to the move; anything else is a
 * state this code never makes. Every change goes through a joint
 * configuration in the core, so a change of learners alone shows as R joint
 * with R (or T with T) until it is left.
 */
function shapeOf(config: ConfigState, plan: Plan): Shape {
  const learnersFit = (allowed: readonly NodeId[]): boolean => config.learners.every((id) => allowed.includes(id) || plan.observers.has(id));
  const outgoing = isJoint(config) ? config.votersOutgoing : config.voters;
  const demoted = config.learnersNext.every((id) => plan.leaving.includes(id) && plan.observers.has(id));
  // Before anything, the original configuration may carry learners the move added (or a finished one left).
  if (sameMembers(config.voters, plan.original) && sameMembers(outgoing, plan.original)) return 'original';
  // The target may carry learners nobody wants (they never vote): finalizing removes them.
  if (sameMembers(config.voters, plan.target) && sameMembers(outgoing, plan.target)) return config.learnersNext.length === 0 ? 'target' : 'other';
  if (sameMembers(config.voters, plan.target) && sameMembers(outgoing, plan.original)) return learnersFit([]) && demoted ? 'joint' : 'other';
  return 'other';
}

function forward(move: MoveRecord, plan: Plan, group: GroupView, nowMs: number, options: StepOptions, memo: MoveMemo): MoveStep {
  const { config } = group;
  const strays = config.learners.filter((id) => !plan.adding.includes(id) && !plan.observers.has(id));
  if (strays.length > 0) return out('addingLearners', propose(strays.map((node) => ({ type: 'remove', node }))), `removing learners [${strays.join(',')}] no move wants`, memo);
  const missing = plan.adding.filter((id) => !config.learners.includes(id));
  if (missing.length > 0) {
    if (!group.metadataFresh) return out('addingLearners', { type: 'refreshMetadata' }, 'confirming the move with the controller', memo);
    return out('addingLearners', propose(missing.map((node) => ({ type: 'addLearner', node }))), `adding learners [${missing.join(',')}]`, memo);
  }
  const since = new Map<NodeId, number>();
  for (const id of plan.adding) {
    const p = group.progress.get(id);
    const caughtUp = p !== undefined && p.entriesBehind <= options.entriesBehindMax && p.bytesBehind <= options.bytesBehindMax && p.heardAgoMs <= options.heardWithinMs;
    if (caughtUp) since.set(id, memo.caughtUpSinceMs.get(id) ?? nowMs);
  }
  const caughtUp = plan.adding.filter((id) => since.has(id));
  const settled = plan.adding.filter((id) => nowMs - since.get(id)! >= options.stableMs);
  const next: MoveMemo = { ...memo, caughtUpSinceMs: since };
  if (settled.length < plan.adding.length) {
    const behind = plan.adding.filter((id) => !settled.includes(id));
    return { stage: 'catchingUp', action: { type: 'wait' }, detail: `waiting for [${behind.join(',')}] to catch up`, caughtUp, memo: next };
  }
  if (!group.metadataFresh) return { stage: 'catchingUp', action: { type: 'refreshMetadata' }, detail: 'confirming the move with the controller', caughtUp, memo: next };
  if (plan.leaving.includes(group.self) && plan.staying.length > 0) {
    const started = next.transferSinceMs ?? nowMs;
    if (nowMs - started < options.leaderTransferTimeoutMs) {
      const moved = { ...next, transferSinceMs: started };
      if (group.transferee !== 0) return { stage: 'transferringLeader', action: { type: 'wait' }, detail: `handing leadership to ${group.transferee}`, caughtUp, memo: moved };
      const to = successor(move, plan, group, options);
      return { stage: 'transferringLeader', action: { type: 'transferLeadership', to }, detail: `handing leadership to ${to} before leaving`, caughtUp, memo: moved };
    }
    // The handover did not happen in time: commit the change from here and step down at its end.
  }
  if (group.transferee !== 0) return { stage: 'transferringLeader', action: { type: 'wait' }, detail: `a handover to ${group.transferee} is under way`, caughtUp, memo: next };
  const changes: ConfChange[] = [
    ...plan.adding.map((node): ConfChange => ({ type: 'addVoter', node })),
    ...plan.leaving.map((node): ConfChange => (plan.observers.has(node) ? { type: 'addLearner', node } : { type: 'remove', node })),
  ];
  if (changes.length === 0) return { stage: 'finalizing', action: report(move, 'done'), detail: 'nothing to change', caughtUp, memo: next };
  return { stage: 'joint', action: { type: 'propose', changes }, detail: `proposing voters [${move.target.join(',')}] jointly with [${move.original.join(',')}]`, caughtUp, memo: next };
}

function rollBack(move: MoveRecord, plan: Plan, group: GroupView, memo: MoveMemo): MoveStep {
  const learners = group.config.learners.filter((id) => !plan.observers.has(id));
  if (learners.length > 0) return out('rollingBack', propose(learners.map((node) => ({ type: 'remove', node }))), `cancelled (${move.cancelReason}): removing learners [${learners.join(',')}]`, memo);
  if (!group.leadershipConfirmed) return out('rollingBack', { type: 'confirmLeadership' }, 'confirming leadership before reporting the cancel', memo);
  return out('rollingBack', report(move, 'cancelled'), `the group runs on [${move.original.join(',')}] again`, memo);
}

/** No move: learners nobody wants (a move finished or dropped while it had some) are removed; they never vote, so this is always safe. */
function sweep(group: GroupView): MoveStep {
  const observers = group.observers ?? new Set<NodeId>();
  const strays = group.config.learners.filter((id) => !observers.has(id));
  if (strays.length === 0 || isJoint(group.config)) return out('idle', { type: 'wait' }, 'no move', null);
  if (!group.configCommitted) return out('sweeping', { type: 'wait' }, 'a membership change is committing', null);
  // A move this replica's metadata does not show yet may want them: ask the metadata before undoing its work.
  if (!group.metadataFresh) return out('sweeping', { type: 'refreshMetadata' }, 'confirming no move wants the learners', null);
  return out('sweeping', propose(strays.map((node) => ({ type: 'remove', node }))), `removing learners [${strays.join(',')}] no move wants`, null);
}

/** The staying replica to lead: the target's preferred leader if it stays and answers, else the most caught-up one that answers. */
function successor(move: MoveRecord, plan: Plan, group: GroupView, options: StepOptions): NodeId {
  const answers = (id: NodeId): boolean => (group.progress.get(id)?.heardAgoMs ?? Infinity) <= options.heardWithinMs;
  const preferred = move.target[0]!;
  if (plan.staying.includes(preferred) && answers(preferred)) return preferred;
  const behind = (id: NodeId): number => group.progress.get(id)?.entriesBehind ?? Infinity;
  const ranked = [...plan.staying].sort((a, b) => Number(answers(b)) - Number(answers(a)) || behind(a) - behind(b) || a - b);
  return ranked[0]!;
}

function report(move: MoveRecord, to: MoveReport['to']): MoveAction {
  return { type: 'report', report: { moveId: move.moveId, to } };
}

function propose(changes: ConfChange[]): MoveAction {
  return { type: 'propose', changes };
}

function out(stage: MoveStage, action: MoveAction, detail: string, memo: MoveMemo | null): MoveStep {
  return { stage, action, detail, caughtUp: [], memo };
}

function describe(config: ConfigState): string {
  const joint = config.votersOutgoing.length > 0 ? ` joint with [${config.votersOutgoing.join(',')}]` : '';
  const learners = config.learners.length > 0 ? ` learners [${config.learners.join(',')}]` : '';
  return `voters [${config.voters.join(',')}]${joint}${learners}`;
}
