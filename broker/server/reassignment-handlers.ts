import { readAlterTopic, readVoterChange, readBrokerId, readCancelReassignments, readListReassignments, readReassignPartitions, reassignmentMethods } from '../../transport/protocol/reassignment.js';
import { brokerLimits, clusterLimits } from '../../transport/limits.js';
import { withTimeout } from '../../transport/abort.js';
import { SkeinError } from '../../transport/errors.js';
import { BodyReader } from '../../transport/protocol/validate.js';
import type { RpcHandlerContext } from '../../transport/rpc/index.js';
import type { ControllerOperation } from '../cluster/controller-service.js';

/**
 * Client requests about moving partitions. Every one goes to the controller
 * (the only one that records moves and holds the leaders' progress reports);
 * each answers once its commands are committed, never waiting for the moves.
 */
/** What these handlers need of the server (handlers.ts's ServerContext has it). */
export interface ReassignmentContext {
  controller(operation: ControllerOperation, signal: AbortSignal): Promise<unknown>;
  aliveBrokers(): Set<number>;
}

const names: ReadonlySet<string> = new Set(Object.values(reassignmentMethods));

export function isReassignmentMethod(method: string): boolean {
  return names.has(method);
}

export function handleReassignment(ctx: ReassignmentContext, method: string, body: unknown, rpc: RpcHandlerContext): Promise<unknown> {
  switch (method) {
    case reassignmentMethods.reassignPartitions:
      return ctx.controller({ op: 'reassign', moves: readReassignPartitions(body).moves, reason: 'operator' }, rpc.signal);
    case reassignmentMethods.decommissionBroker:
      return ctx.controller({ op: 'decommission', brokerId: readBrokerId(body, method) }, rpc.signal);
    case reassignmentMethods.recommissionBroker:
      return ctx.controller({ op: 'recommission', brokerId: readBrokerId(body, method) }, rpc.signal);
    case reassignmentMethods.rebalance:
      return ctx.controller({ op: 'rebalance', dryRun: new BodyReader(body ?? {}, method).bool('dryRun', false) }, rpc.signal);
    case reassignmentMethods.alterControllerVoters:
      return ctx.controller({ op: 'voters', ...readVoterChange(body) }, rpc.signal);
    case reassignmentMethods.alterTopic:
      return ctx.controller({ op: 'alterTopic', ...readAlterTopic(body) }, rpc.signal);
    case reassignmentMethods.cancelReassignments:
      return ctx.controller({ op: 'cancelMoves', partitions: readCancelReassignments(body).partitions }, rpc.signal);
    default:
      return ctx.controller({ op: 'listMoves', request: readListReassignments(body) }, rpc.signal);
  }
}

/**
 * Which brokers are alive, as the controller sees them: it hears from every broker (each follows the
 * metadata group it leads), where another broker hears only from those it shares groups with. This
 * broker's own view when the controller does not answer in time.
 */
export async function clusterLiveness(ctx: ReassignmentContext, signal: AbortSignal): Promise<Set<number>> {
  // withTimeout, not AbortSignal.any with AbortSignal.timeout: see transport/abort.ts (and it follows the simulated clock).
  const deadline = withTimeout(signal, clusterLimits.livenessTimeoutMs, () => new SkeinError('TIMEOUT', { message: 'the controller did not say who is alive in time' }));
  try {
    const answer = await ctx.controller({ op: 'liveness' }, deadline.signal);
    const ids = new BodyReader(answer, 'liveness').list('alive', { lengthMax: brokerLimits.brokerIdMax }, (v, where) => new BodyReader({ v }, where).int('v', { min: 1, max: brokerLimits.brokerIdMax }))!;
    return new Set(ids);
  } catch {
    return ctx.aliveBrokers();
  } finally {
    deadline.dispose();
  }
}
