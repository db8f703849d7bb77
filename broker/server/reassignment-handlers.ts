import { readAlterTopic, readVoterChange, readBrokerId, readCancelReassignments, readListReassignments, readReassignPartitions, reassignmentMethods } from '../../transport/protocol/reassignment.js';
import { BodyReader } from '../../transport/protocol/validate.js';
import type { RpcHandlerContext } from '../../transport/rpc/index.js';
import type { ServerContext } from './handlers.js';

/**
 * Client requests about moving partitions. Every one goes to the controller
 * (the only one that records moves and holds the leaders' progress reports);
 * each answers once its commands are committed, never waiting for the moves.
 */
const names: ReadonlySet<string> = new Set(Object.values(reassignmentMethods));

export function isReassignmentMethod(method: string): boolean {
  return names.has(method);
}

export function handleReassignment(ctx: ServerContext, method: string, body: unknown, rpc: RpcHandlerContext): Promise<unknown> {
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
