import { Decoder, Encoder } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import type { BrokerView } from '../../../broker/cluster/core/brokers.js';
import {
  applyMoveReport,
  cancelMove,
  checkMoveTarget,
  movesToAdmit,
  newMove,
  readMoveRecord,
  readMoveReport,
  startMove,
  type MoveRecord,
} from '../../../broker/cluster/core/move-record.js';
import { isSkeinError } from '../../../transport/errors.js';
import { brokerLimits } from '../../../transport/limits.js';

const brokers = (views: Array<[number, BrokerView['state'], boolean?]>): Map<number, BrokerView> =>
  new Map(views.map(([id, state, alive]) => [id, { id, state, alive: alive ?? true }]));

const cluster = brokers([
  [1, 'active'],
  [2, 'active'],
  [3, 'active'],
  [4, 'active'],
  [5, 'decommissioning'],
  [6, 'gone'],
  [7, 'joining'],
]);

function refusal(result: ReturnType<typeof checkMoveTarget>): { code: string; details: unknown } {
  if (result.kind !== 'refused') throw new Error(`expected a refusal, got ${result.kind}`);
  return { code: result.error.code, details: result.error.details };
}

describe('checkMoveTarget', () => {
  const check = (target: unknown, extra: Partial<Parameters<typeof checkMoveTarget>[0]> = {}): ReturnType<typeof checkMoveTarget> =>
    checkMoveTarget({ current: [1, 2, 3], target, moving: null, brokers: cluster, checkAlive: true, ...extra });

  it('accepts a move, and a reorder that only changes the preferred leader', () => {
    expect(check([2, 3, 4])).toEqual({ kind: 'move', target: [2, 3, 4] });
    expect(check([3, 1, 2])).toEqual({ kind: 'reorder', target: [3, 1, 2] });
    expect(check([1, 2, 3, 4])).toEqual({ kind: 'move', target: [1, 2, 3, 4] });
    expect(check([1])).toEqual({ kind: 'move', target: [1] });
  });

  it('refuses every bad replica list with a typed error naming the reason', () => {
    expect(refusal(check([2, 2, 4]))).toMatchObject({ code: 'INVALID_REPLICA_ASSIGNMENT', details: { reason: 'duplicate' } });
    expect(refusal(check([]))).toMatchObject({ code: 'INVALID_REPLICA_ASSIGNMENT', details: { reason: 'size' } });
    expect(refusal(check('1,2,3'))).toMatchObject({ code: 'INVALID_REPLICA_ASSIGNMENT', details: { reason: 'size' } });
    expect(refusal(check([1, 2, 0]))).toMatchObject({ code: 'INVALID_REPLICA_ASSIGNMENT', details: { reason: 'brokerId' } });
    expect(refusal(check([1, 2, 2.5]))).toMatchObject({ code: 'INVALID_REPLICA_ASSIGNMENT', details: { reason: 'brokerId' } });
    expect(refusal(check([1, 2, brokerLimits.brokerIdMax + 1]))).toMatchObject({ code: 'INVALID_REPLICA_ASSIGNMENT', details: { reason: 'brokerId' } });
    expect(refusal(check([1, 2, 3]))).toMatchObject({ code: 'INVALID_REPLICA_ASSIGNMENT', details: { reason: 'unchanged' } });
    expect(refusal(check([1, 2, 9]))).toMatchObject({ code: 'UNKNOWN_BROKER', details: { broker: 9 } });
    for (const [id, state] of [
      [5, 'decommissioning'],
      [6, 'gone'],
      [7, 'joining'],
    ] as const) {
      expect(refusal(check([1, 2, id]))).toMatchObject({ code: 'INVALID_BROKER_STATE', details: { broker: id, state } });
    }
  });

  it('takes at most replicationFactorMax replicas', () => {
    const many = Array.from({ length: brokerLimits.replicationFactorMax + 1 }, (_, i) => i + 1);
    const all = brokers(many.map((id) => [id, 'active'] as [number, 'active']));
    expect(checkMoveTarget({ current: [1], target: many.slice(0, -1), moving: null, brokers: all, checkAlive: true }).kind).toBe('move');
    expect(refusal(checkMoveTarget({ current: [1], target: many, moving: null, brokers: all, checkAlive: true }))).toMatchObject({ code: 'INVALID_REPLICA_ASSIGNMENT', details: { reason: 'size' } });
  });

  it('refuses a second move of a moving partition', () => {
    const moving = newMove({ moveId: 7, original: [1, 2, 3], target: [2, 3, 4], reason: 'operator', atMs: 0 });
    expect(refusal(check([1, 2, 4], { moving }))).toMatchObject({ code: 'REASSIGNMENT_IN_PROGRESS', details: { moveId: 7 } });
  });

  it('checks liveness only when asked: a live majority of the current replicas, and live new replicas', () => {
    const deadTwo = brokers([
      [1, 'active', false],
      [2, 'active', false],
      [3, 'active'],
      [4, 'active'],
    ]);
    const noQuorum = { current: [1, 2, 3], target: [2, 3, 4], moving: null, brokers: deadTwo };
    expect(refusal(checkMoveTarget({ ...noQuorum, checkAlive: true }))).toMatchObject({ code: 'INVALID_REPLICA_ASSIGNMENT', details: { reason: 'noQuorum' } });
    // Applying the command in the metadata log must decide alike everywhere: no liveness there.
    expect(checkMoveTarget({ ...noQuorum, checkAlive: false }).kind).toBe('move');

    // Off a dead broker: the two live replicas are a majority of three.
    const deadOne = brokers([
      [1, 'active', false],
      [2, 'active'],
      [3, 'active'],
      [4, 'active'],
      [5, 'active', false],
    ]);
    expect(checkMoveTarget({ current: [1, 2, 3], target: [2, 3, 4], moving: null, brokers: deadOne, checkAlive: true }).kind).toBe('move');
    expect(refusal(checkMoveTarget({ current: [1, 2, 3], target: [2, 3, 5], moving: null, brokers: deadOne, checkAlive: true }))).toMatchObject({
      code: 'INVALID_REPLICA_ASSIGNMENT',
      details: { reason: 'offline', brokers: [5] },
    });
  });
});

describe('the controller side of a move', () => {
  const queued = newMove({ moveId: 3, original: [1, 2, 3], target: [2, 3, 4], reason: 'operator', atMs: 1_000 });
  const adding = { ...queued, phase: 'adding', startedAtMs: 2_000 } satisfies MoveRecord;
  const joint = { ...adding, phase: 'joint' } satisfies MoveRecord;

  it('admits the oldest queued moves while fewer than the limit are in flight', () => {
    const moves = [
      { key: 'a', move: { ...queued, moveId: 9 } },
      { key: 'b', move: adding },
      { key: 'c', move: { ...queued, moveId: 4 } },
      { key: 'd', move: { ...queued, moveId: 6 } },
    ];
    expect(movesToAdmit(moves, 3)).toEqual(['c', 'd']);
    expect(movesToAdmit(moves, 1)).toEqual([]);
    expect(movesToAdmit(moves, 0)).toEqual([]);
    expect(movesToAdmit(moves, 10)).toEqual(['c', 'd', 'a']);
    expect(startMove(queued, 5)).toEqual({ kind: 'updated', move: { ...queued, phase: 'adding', startedAtMs: 5 } });
    expect(startMove(adding, 5)).toEqual({ kind: 'unchanged' });
  });

  it('cancels: a queued move at once, an adding one when its leader rolls back, a joint one never', () => {
    expect(cancelMove(null, 'operator')).toMatchObject({ kind: 'refused', error: { code: 'NO_REASSIGNMENT_IN_PROGRESS' } });
    expect(cancelMove(queued, 'operator')).toEqual({ kind: 'finished', outcome: 'cancelled', replicas: [1, 2, 3] });
    expect(cancelMove(adding, 'operator')).toEqual({ kind: 'updated', move: { ...adding, cancelReason: 'operator' } });
    expect(cancelMove({ ...adding, cancelReason: 'operator' }, 'again')).toEqual({ kind: 'unchanged' });
    expect(cancelMove(joint, 'operator')).toMatchObject({ kind: 'refused', error: { code: 'REASSIGNMENT_NOT_CANCELLABLE', details: { moveId: 3 } } });
  });

  it('keeps a cancel reason within what the metadata stores', () => {
    const long = 'é'.repeat(brokerLimits.metadataStringBytesMax);
    const decision = cancelMove(adding, long);
    if (decision.kind !== 'updated') throw new Error('expected an update');
    expect(new TextEncoder().encode(decision.move.cancelReason!).byteLength).toBeLessThanOrEqual(brokerLimits.metadataStringBytesMax);
    expect(decision.move.cancelReason!.endsWith('é')).toBe(true);
  });

  it('believes reports that follow from the recorded phase, and ignores stale ones', () => {
    expect(applyMoveReport(adding, { moveId: 3, to: 'joint' })).toEqual({ kind: 'updated', move: joint });
    expect(applyMoveReport(joint, { moveId: 3, to: 'joint' })).toEqual({ kind: 'unchanged' });
    expect(applyMoveReport(adding, { moveId: 3, to: 'done' })).toEqual({ kind: 'finished', outcome: 'done', replicas: [2, 3, 4] });
    expect(applyMoveReport(joint, { moveId: 3, to: 'done' })).toEqual({ kind: 'finished', outcome: 'done', replicas: [2, 3, 4] });
    // A cancelled report needs a cancel, and cannot undo a committed joint configuration.
    expect(applyMoveReport(adding, { moveId: 3, to: 'cancelled' })).toEqual({ kind: 'unchanged' });
    expect(applyMoveReport({ ...adding, cancelReason: 'x' }, { moveId: 3, to: 'cancelled' })).toEqual({ kind: 'finished', outcome: 'cancelled', replicas: [1, 2, 3] });
    expect(applyMoveReport({ ...joint, cancelReason: 'x' }, { moveId: 3, to: 'cancelled' })).toEqual({ kind: 'unchanged' });
    // A late cancel loses to a move that already committed.
    expect(applyMoveReport({ ...adding, cancelReason: 'x' }, { moveId: 3, to: 'done' })).toEqual({ kind: 'finished', outcome: 'done', replicas: [2, 3, 4] });
    // Another move's report, a report for a queued move, a report with no move: stale.
    expect(applyMoveReport(adding, { moveId: 2, to: 'done' })).toEqual({ kind: 'unchanged' });
    expect(applyMoveReport(queued, { moveId: 3, to: 'done' })).toEqual({ kind: 'unchanged' });
    expect(applyMoveReport(null, { moveId: 3, to: 'done' })).toEqual({ kind: 'unchanged' });
  });
});

describe('move records on the wire and in snapshots', () => {
  const codec = { encoder: new Encoder({ useRecords: false, mapsAsObjects: true }), decoder: new Decoder({ useRecords: false, mapsAsObjects: true }) };
  const roundTrip = (value: unknown): unknown => codec.decoder.decode(codec.encoder.encode(value));
  const record: MoveRecord = { moveId: 12, original: [1, 2, 3], target: [4, 2, 3], phase: 'adding', reason: 'decommission', cancelReason: 'broker 4 decommissioned', acceptedAtMs: 100, startedAtMs: 200 };

  it('round-trips through CBOR', () => {
    expect(readMoveRecord(roundTrip(record), 'move')).toEqual(record);
    const fresh = newMove({ moveId: 1, original: [1], target: [2], reason: 'operator', atMs: 0 });
    expect(readMoveRecord(roundTrip(fresh), 'move')).toEqual(fresh);
    expect(readMoveReport(roundTrip({ moveId: 5, to: 'cancelled' }), 'report')).toEqual({ moveId: 5, to: 'cancelled' });
  });

  it('refuses damaged or forged records as MALFORMED_REQUEST naming the field', () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...record, moveId: 0 }, /moveId/],
      [{ ...record, original: [1, 1] }, /original names a broker twice/],
      [{ ...record, target: [] }, /target must list/],
      [{ ...record, target: [1, 2, 3] }, /equals its original/],
      [{ ...record, phase: 'done' }, /phase/],
      [{ ...record, reason: 'whim' }, /reason/],
      [{ ...record, startedAtMs: null }, /start time/],
      [{ ...record, phase: 'queued' }, /start time/],
      [{ ...record, cancelReason: 'x'.repeat(brokerLimits.metadataStringBytesMax + 1) }, /cancelReason/],
      [{ ...record, target: [1, 2, -4] }, /bad broker id/],
    ];
    for (const [value, message] of bad) {
      let error: unknown;
      try {
        readMoveRecord(roundTrip(value), 'move');
      } catch (e) {
        error = e;
      }
      expect(isSkeinError(error, 'MALFORMED_REQUEST'), JSON.stringify(value)).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
    expect(() => readMoveReport({ moveId: 1, to: 'maybe' }, 'report')).toThrow(/report.to/);
  });
});
