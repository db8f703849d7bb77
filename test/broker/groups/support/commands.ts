import type { CommittedOffset, GroupCommand, GroupResult, HeartbeatCommand, MemberView } from '../../../../broker/groups/core/commands.js';
import type { TopicPartition, TopicShape } from '../../../../broker/groups/core/partitions.js';
import type { GroupShard } from '../../../../broker/groups/core/shard.js';

/** Builders for the commands a coordinator would propose, for tests of the group core. */
export const sessionMs = 10_000;
export const rebalanceMs = 30_000;

export interface JoinOptions {
  group?: string;
  instanceId?: string | null;
  topics?: string[];
  shapes?: TopicShape[];
  replacedLeaseEndMs?: number;
}

export function joinCommand(memberId: string, nowMs: number, options: JoinOptions = {}): HeartbeatCommand {
  return {
    type: 'heartbeat',
    group: options.group ?? 'g',
    nowMs,
    memberId,
    epoch: 0,
    join: { instanceId: options.instanceId ?? null, clientId: `client-${memberId}`, clientHost: '10.0.0.1', sessionTimeoutMs: sessionMs, rebalanceTimeoutMs: rebalanceMs },
    topics: options.topics ?? ['orders'],
    ...(options.shapes !== undefined ? { shapes: options.shapes } : {}),
    ...(options.replacedLeaseEndMs !== undefined ? { replacedLeaseEndMs: options.replacedLeaseEndMs } : {}),
  };
}

export function beatCommand(memberId: string, epoch: number, nowMs: number, owned?: TopicPartition[], group = 'g'): HeartbeatCommand {
  return { type: 'heartbeat', group, nowMs, memberId, epoch, ...(owned !== undefined ? { owned } : {}) };
}

export function commitCommand(memberId: string, epoch: number, nowMs: number, offsets: CommittedOffset[], group = 'g'): GroupCommand {
  return { type: 'commit', group, nowMs, memberId, epoch, offsets };
}

/** The member view of a result that must have succeeded. */
export function viewOf(result: GroupResult): MemberView {
  if (!result.ok) throw new Error(`expected success, got ${result.error.code}: ${result.error.message}`);
  if (result.member === undefined) throw new Error('expected a member view');
  return result.member;
}

export function codeOf(result: GroupResult): string | null {
  return result.ok ? null : result.error.code;
}

export function checkInvariants(shard: GroupShard): void {
  for (const name of shard.names()) {
    const problem = shard.group(name)!.invariantProblem();
    if (problem !== null) throw new Error(`group ${name}: ${problem}`);
  }
}

export const names = (partitions: readonly TopicPartition[]): string[] => partitions.map((p) => `${p.topic}/${p.partition}`);
