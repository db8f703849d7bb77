import { clusterLimits } from '../../transport/limits.js';
import { isJoint, type ConfChange } from '../raft/core/membership.js';
import type { Controller } from './controller.js';
import { planDecommission, type BalanceInput } from './core/balance.js';
import type { MetadataCommand, MetadataState } from './metadata-state.js';

/**
 * Emptying brokers being decommissioned, one step at a time on the
 * controller (see ControllerDuties): moves that would put a new replica on
 * such a broker are cancelled (if not yet past their joint configuration);
 * every partition not moving that has a replica there gets a move off it, to
 * the least loaded active, alive brokers (core/balance.ts planDecommission);
 * and a broker that holds nothing and is no metadata voter is declared gone,
 * for good. Every decision is made afresh from the metadata, so a new
 * controller carries on where the last one stopped.
 */
export function evacuationStep(controller: Controller, alive: ReadonlySet<number>, nowMs: number, onNotice: (message: string) => void): Promise<unknown> | null {
  const state = controller.state;
  const leaving = state.brokerList().filter((b) => state.lifecycle(b.id)?.state === 'decommissioning').map((b) => b.id);
  if (leaving.length === 0) return null;
  const commands = [...cancels(state, leaving, nowMs), ...evacuations(state, alive, nowMs, onNotice)];
  const voters = controller.raft.status().config.voters;
  const demote = replaceVoter(controller, leaving);
  if (demote !== null) return demote.then(() => onNotice(`a decommissioned broker left the metadata group's voters`));
  for (const id of leaving) {
    const holds = state.topicList().some((t) => t.partitions.some((p) => p.replicas.includes(id) || p.move?.target.includes(id) === true));
    if (!holds && !voters.includes(id)) commands.push({ type: 'brokerGone', id });
  }
  if (commands.length === 0) return null;
  return (async () => {
    for (const command of commands) {
      const result = await controller.propose(command);
      if (result.ok && command.type === 'brokerGone') onNotice(`broker ${command.id} is decommissioned and gone; it can be stopped`);
    }
  })();
}

/**
 * A leaving broker that is a metadata voter is demoted to learner, swapped for the most caught-up active
 * learner if there is one (else the group shrinks, never below one voter). The controller itself hands
 * its leadership over first.
 */
function replaceVoter(controller: Controller, leaving: readonly number[]): Promise<unknown> | null {
  const group = controller.groupView();
  if (isJoint(group.config) || !group.configCommitted) return null;
  const id = leaving.find((b) => group.config.voters.includes(b));
  if (id === undefined || group.config.voters.length <= 1) return null;
  if (id === controller.raft.status().id) {
    controller.handOver();
    return null;
  }
  const state = controller.state;
  const candidates = group.config.learners
    .filter((b) => state.lifecycle(b)?.state === 'active' && group.progress.has(b))
    .sort((a, b) => group.progress.get(b)!.match - group.progress.get(a)!.match || a - b);
  const replacement = candidates.find((b) => group.lastIndex - group.progress.get(b)!.match <= clusterLimits.caughtUpEntriesBehindMax);
  const changes: ConfChange[] = [{ type: 'addLearner', node: id }, ...(replacement !== undefined ? [{ type: 'addVoter' as const, node: replacement }] : [])];
  return controller.raft.changeMembership(changes);
}

/** Moves putting a new replica on a leaving broker: cancelled before they copy anything more there. */
function cancels(state: MetadataState, leaving: readonly number[], nowMs: number): MetadataCommand[] {
  const out: MetadataCommand[] = [];
  for (const { topic, partition, move } of state.moves()) {
    if (move.phase === 'joint' || move.cancelReason !== null) continue;
    const id = move.target.find((b) => leaving.includes(b) && !move.original.includes(b));
    if (id !== undefined) out.push({ type: 'cancelMove', topicId: topic.topicId, partition: partition.partition, reason: `target broker ${id} is decommissioning`, atMs: nowMs });
  }
  return out;
}

/** A move off the leaving brokers for every partition not moving that has a replica there. */
function evacuations(state: MetadataState, alive: ReadonlySet<number>, nowMs: number, onNotice: (message: string) => void): MetadataCommand[] {
  const input = balanceInput(state, alive, clusterLimits.movesPendingMax - state.moves().length);
  let plan;
  try {
    plan = planDecommission(input);
  } catch (error) {
    // Not enough active, alive brokers to take the replicas right now: wait (a broker may come back or join).
    onNotice(`decommissioning waits: ${(error as Error).message}`);
    return [];
  }
  return plan.moves.map((m) => {
    const topic = state.topic(m.topic)!;
    return { type: 'reassignPartition', topicId: topic.topicId, partition: m.partition, target: [...m.target], reason: 'decommission', atMs: nowMs } as const;
  });
}

/** The placement the planners see: moving partitions where they are going, locked. */
export function balanceInput(state: MetadataState, alive: ReadonlySet<number>, movesMax: number): BalanceInput {
  return {
    brokers: [...state.brokerViews((id) => alive.has(id)).values()],
    partitions: state.topicList().flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partition, replicas: p.move?.target ?? p.replicas, locked: p.move !== undefined }))),
    movesMax: Math.max(0, movesMax),
  };
}
