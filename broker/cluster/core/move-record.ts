import { SkeinError } from '../../../transport/errors.js';
import { brokerLimits } from '../../../transport/limits.js';
import { BodyReader, malformed } from '../../../transport/protocol/validate.js';
import { majority, sameMembers, type BrokerView } from './brokers.js';

/**
 * One partition's move from its replicas to a target replica set, as the
 * metadata records it, and the controller's decisions about it as pure
 * functions of the record (MetadataState applies them in log order, so they
 * are deterministic and take time as an argument).
 *
 * The metadata holds the intent; the partition's Raft group holds the
 * membership. The group's leader carries a move out (reassignment.ts) and
 * reports what its group committed; the controller only admits moves,
 * records cancellations and believes reports that cannot be stale:
 *
 *   queued ──admit──▶ adding ──report joint──▶ joint ──report done──▶ finished (done: replicas := target)
 *     │                 │  └──────────────report done────────────────▶ finished (done)
 *     └─cancel─▶ finished (cancelled)   └─cancel: sets cancelReason; report cancelled ─▶ finished (cancelled)
 *
 * 'adding' means new replicas may be learners of the group; 'joint' means the
 * group committed the joint configuration (old and new voters), after which
 * nothing can stop the move, so a cancel is refused at once. A cancel that
 * arrives while the leader is proposing the joint configuration is recorded
 * but too late: the move finishes done, and the cancel's waiter is told so.
 */
export type MovePhase = 'queued' | 'adding' | 'joint';
export const movePhases: readonly MovePhase[] = ['queued', 'adding', 'joint'];

/** Why a move exists: shown to operators, and lets a recommission cancel the moves its decommission made. */
export type MoveReason = 'operator' | 'rebalance' | 'decommission' | 'replication';
export const moveReasons: readonly MoveReason[] = ['operator', 'rebalance', 'decommission', 'replication'];

export interface MoveRecord {
  /** Issued by the metadata, increasing, never reused: reports name the move they are about. */
  readonly moveId: number;
  /** The replicas when the move was accepted (the partition's replicas until it finishes). */
  readonly original: readonly number[];
  /** The replicas wanted; target[0] is the new preferred leader. */
  readonly target: readonly number[];
  readonly phase: MovePhase;
  readonly reason: MoveReason;
  /** Why a cancel was asked for (an operator, a target broker decommissioned...); null while none was. */
  readonly cancelReason: string | null;
  readonly acceptedAtMs: number;
  readonly startedAtMs: number | null;
}

export type MoveOutcome = 'done' | 'cancelled';

/** What a partition leader tells the controller about a move of its group (see reassignment.ts). */
export interface MoveReport {
  readonly moveId: number;
  /** joint: the joint configuration is committed. done: the group runs on the target alone. cancelled: on the original alone. */
  readonly to: 'joint' | 'done' | 'cancelled';
}
export const moveReportKinds: readonly MoveReport['to'][] = ['joint', 'done', 'cancelled'];

export type MoveDecision =
  | { readonly kind: 'refused'; readonly error: SkeinError }
  /** Nothing to change (a duplicate or stale report, a repeated cancel). */
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'updated'; readonly move: MoveRecord }
  /** The move is over: the partition's replicas become `replicas` and the record goes. */
  | { readonly kind: 'finished'; readonly outcome: MoveOutcome; readonly replicas: readonly number[] };

// ------------------------------------------------------------------ accepting a move

export interface MoveRequest {
  /** The partition's replicas now. */
  readonly current: readonly number[];
  readonly target: unknown;
  /** The partition's move in progress, if any. */
  readonly moving: MoveRecord | null;
  readonly brokers: ReadonlyMap<number, BrokerView>;
  /**
   * Check liveness too: the controller does before proposing (a quorum of the current replicas must be
   * alive to commit the change, every new replica alive to catch up). Applying the command does not, since
   * liveness is not in the log and every replica of the metadata must decide alike.
   */
  readonly checkAlive: boolean;
}

/**
 * Whether `target` may replace the partition's replicas: 'reorder' when it
 * names the same brokers in another order (only the preferred leader changes,
 * at once), 'move' when brokers join or leave, or a typed error that says why not.
 */
export function checkMoveTarget(request: MoveRequest): { kind: 'reorder' | 'move'; target: number[] } | { kind: 'refused'; error: SkeinError } {
  const refuse = (code: SkeinError['code'], message: string, details: Record<string, unknown>): { kind: 'refused'; error: SkeinError } => ({
    kind: 'refused',
    error: new SkeinError(code, { message, details }),
  });
  const { current, target, brokers } = request;
  if (request.moving !== null) {
    return refuse('REASSIGNMENT_IN_PROGRESS', `the partition is already moving to [${request.moving.target.join(',')}] (move ${request.moving.moveId})`, { moveId: request.moving.moveId });
  }
  if (!Array.isArray(target) || target.length === 0 || target.length > brokerLimits.replicationFactorMax) {
    return refuse('INVALID_REPLICA_ASSIGNMENT', `a replica list names 1 to ${brokerLimits.replicationFactorMax} brokers`, { reason: 'size' });
  }
  if (!target.every((id): id is number => Number.isSafeInteger(id) && id >= 1 && id <= brokerLimits.brokerIdMax)) {
    return refuse('INVALID_REPLICA_ASSIGNMENT', `broker ids are integers from 1 to ${brokerLimits.brokerIdMax}`, { reason: 'brokerId' });
  }
  if (new Set(target).size !== target.length) return refuse('INVALID_REPLICA_ASSIGNMENT', `[${target.join(',')}] names a broker twice`, { reason: 'duplicate' });
  for (const id of target) {
    const broker = brokers.get(id);
    if (broker === undefined) return refuse('UNKNOWN_BROKER', `the cluster has no broker ${id}`, { broker: id });
    if (broker.state !== 'active') return refuse('INVALID_BROKER_STATE', `broker ${id} is ${broker.state}: it takes no replicas`, { broker: id, state: broker.state });
  }
  if (target.length === current.length && target.every((id, i) => id === current[i])) {
    return refuse('INVALID_REPLICA_ASSIGNMENT', `the partition already has replicas [${target.join(',')}]`, { reason: 'unchanged' });
  }
  if (request.checkAlive) {
    const alive = (id: number): boolean => brokers.get(id)?.alive === true;
    const liveCurrent = current.filter(alive).length;
    if (liveCurrent < majority(current.length)) {
      return refuse('INVALID_REPLICA_ASSIGNMENT', `only ${liveCurrent} of the current replicas [${current.join(',')}] are alive; changing them needs a majority`, { reason: 'noQuorum' });
    }
    const offline = target.filter((id) => !current.includes(id) && !alive(id));
    if (offline.length > 0) return refuse('INVALID_REPLICA_ASSIGNMENT', `new replica brokers [${offline.join(',')}] are not alive`, { reason: 'offline', brokers: offline });
  }
  return { kind: sameMembers(current, target) ? 'reorder' : 'move', target: [...target] };
}

export function newMove(fields: { moveId: number; original: readonly number[]; target: readonly number[]; reason: MoveReason; atMs: number }): MoveRecord {
  return { moveId: fields.moveId, original: [...fields.original], target: [...fields.target], phase: 'queued', reason: fields.reason, cancelReason: null, acceptedAtMs: fields.atMs, startedAtMs: null };
}

// ------------------------------------------------------------------ the controller's transitions

/** Admission: queued moves start, oldest first, while fewer than `inFlightMax` are adding or joint. */
export function movesToAdmit<K>(moves: Iterable<{ key: K; move: MoveRecord }>, inFlightMax: number): K[] {
  let inFlight = 0;
  const queued: Array<{ key: K; move: MoveRecord }> = [];
  for (const entry of moves) {
    if (entry.move.phase === 'queued') queued.push(entry);
    else inFlight++;
  }
  queued.sort((a, b) => a.move.moveId - b.move.moveId);
  return queued.slice(0, Math.max(0, inFlightMax - inFlight)).map((entry) => entry.key);
}

export function startMove(move: MoveRecord, atMs: number): MoveDecision {
  if (move.phase !== 'queued') return { kind: 'unchanged' };
  return { kind: 'updated', move: { ...move, phase: 'adding', startedAtMs: atMs } };
}

/**
 * A cancel. A queued move has touched nothing and ends at once; an adding
 * one records the reason and rolls back when its leader sees it (unless the
 * leader had already proposed the joint configuration); a joint one cannot.
 */
export function cancelMove(move: MoveRecord | null, reason: string): MoveDecision {
  if (move === null) return { kind: 'refused', error: new SkeinError('NO_REASSIGNMENT_IN_PROGRESS', { message: 'the partition is not moving' }) };
  switch (move.phase) {
    case 'queued':
      return { kind: 'finished', outcome: 'cancelled', replicas: move.original };
    case 'adding':
      if (move.cancelReason !== null) return { kind: 'unchanged' };
      return { kind: 'updated', move: { ...move, cancelReason: clip(reason) } };
    case 'joint':
      return {
        kind: 'refused',
        error: new SkeinError('REASSIGNMENT_NOT_CANCELLABLE', { message: `move ${move.moveId} has committed its new replica set [${move.target.join(',')}] and completes`, details: { moveId: move.moveId } }),
      };
  }
}

/**
 * A report from the partition's leader. Reports about another move, or that
 * do not follow from the recorded phase, are stale (an old leader, a retry)
 * and change nothing; what a report claims is checked by its sender (see
 * stepMove), so that believing it is safe.
 */
export function applyMoveReport(move: MoveRecord | null, report: MoveReport): MoveDecision {
  if (move === null || move.moveId !== report.moveId || move.phase === 'queued') return { kind: 'unchanged' };
  switch (report.to) {
    case 'joint':
      return move.phase === 'adding' ? { kind: 'updated', move: { ...move, phase: 'joint' } } : { kind: 'unchanged' };
    case 'done':
      return { kind: 'finished', outcome: 'done', replicas: move.target };
    case 'cancelled':
      return move.phase === 'adding' && move.cancelReason !== null ? { kind: 'finished', outcome: 'cancelled', replicas: move.original } : { kind: 'unchanged' };
  }
}

function clip(reason: string): string {
  const bytes = new TextEncoder().encode(reason);
  if (bytes.byteLength <= brokerLimits.metadataStringBytesMax) return reason;
  return new TextDecoder().decode(bytes.subarray(0, brokerLimits.metadataStringBytesMax)).replace(/\uFFFD+$/, '');
}

// ------------------------------------------------------------------ wire and snapshot form

/** A move record read back from the metadata log or a snapshot (plain data: it is written as it is). */
export function readMoveRecord(value: unknown, where: string): MoveRecord {
  const r = new BodyReader(value, where);
  const original = readReplicaList(r.raw('original'), `${where}.original`);
  const target = readReplicaList(r.raw('target'), `${where}.target`);
  if (target.length === original.length && target.every((id, i) => id === original[i])) throw malformed(`${where}: a move's target equals its original replicas`);
  const cancelReason = r.raw('cancelReason') === null ? null : r.string('cancelReason', { bytesMax: brokerLimits.metadataStringBytesMax });
  const startedAtMs = r.raw('startedAtMs') === null ? null : r.int('startedAtMs', { min: 0, max: Number.MAX_SAFE_INTEGER });
  const phase = r.oneOf('phase', movePhases);
  if ((phase === 'queued') !== (startedAtMs === null)) throw malformed(`${where}: a move has a start time exactly when it left the queue`);
  return {
    moveId: r.int('moveId', { min: 1, max: Number.MAX_SAFE_INTEGER }),
    original,
    target,
    phase,
    reason: r.oneOf('reason', moveReasons),
    cancelReason,
    acceptedAtMs: r.int('acceptedAtMs', { min: 0, max: Number.MAX_SAFE_INTEGER }),
    startedAtMs,
  };
}

export function readMoveReport(value: unknown, where: string): MoveReport {
  const r = new BodyReader(value, where);
  return { moveId: r.int('moveId', { min: 1, max: Number.MAX_SAFE_INTEGER }), to: r.oneOf('to', moveReportKinds) };
}

/** 1 to replicationFactorMax distinct broker ids. */
export function readReplicaList(value: unknown, where: string): number[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > brokerLimits.replicationFactorMax) {
    throw malformed(`${where} must list 1 to ${brokerLimits.replicationFactorMax} brokers`);
  }
  for (const id of value) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1 || id > brokerLimits.brokerIdMax) throw malformed(`${where} holds a bad broker id`);
  }
  const ids = value as number[];
  if (new Set(ids).size !== ids.length) throw malformed(`${where} names a broker twice`);
  return [...ids];
}
