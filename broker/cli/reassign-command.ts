import type { Admin, FinishedMove, MoveStatus, ReassignmentResult } from '../../sdk/index.js';
import { brokerLimits } from '../../transport/limits.js';
import { boolFlag, intFlag, listFlag, quote, UsageError, type FlagSpecs, type ParsedFlags } from './args.js';
import { interrupted } from './client-flags.js';

/**
 * `skein topic reassign` and `skein topic reassignments`: moving a
 * partition, and watching moves. A reassign waits for the move it starts
 * (one line on stderr each second while it goes, the outcome on stdout):
 * exit 0 when done, 1 when refused, cancelled or past --timeout-ms (the move
 * carries on: the message says how to watch it). Ctrl-C stops waiting, not
 * the move.
 */
export const reassignFlags: FlagSpecs = {
  partition: { type: 'string', value: 'P', help: 'reassign: the partition to move' },
  replicas: { type: 'string', value: 'ID,...', help: 'reassign: the replicas wanted, the preferred leader first' },
  cancel: { type: 'boolean', help: 'reassign: cancel the partition\'s move instead' },
  'no-wait': { type: 'boolean', help: 'reassign, alter: return once the change is recorded (watch moves with "topic reassignments")' },
  'timeout-ms': { type: 'string', value: 'MS', help: 'reassign: stop waiting after this long (the move carries on)' },
};

export interface ReassignRequest {
  partition: number;
  replicas: number[] | null;
  cancel: boolean;
  wait: boolean;
  timeoutMs: number | undefined;
}

/** Everything on the line checked before anything connects. */
export function reassignRequest(parsed: ParsedFlags): ReassignRequest {
  const partition = intFlag(parsed, 'partition', { min: 0, max: brokerLimits.partitionsPerTopicMax - 1 });
  if (partition === undefined) throw new UsageError('topic reassign needs --partition P');
  const cancel = boolFlag(parsed, 'cancel');
  const replicas = listFlag(parsed, 'replicas', (text) => {
    if (!/^\d+$/.test(text)) throw new UsageError(`--replicas lists broker ids, got ${quote(text)}`);
    return Number(text);
  }, []);
  if (cancel && replicas.length > 0) throw new UsageError('--cancel and --replicas exclude each other');
  if (!cancel && replicas.length === 0) throw new UsageError('topic reassign needs --replicas ID,... (or --cancel)');
  return { partition, replicas: cancel ? null : replicas, cancel, wait: !boolFlag(parsed, 'no-wait'), timeoutMs: intFlag(parsed, 'timeout-ms', { min: 1, max: 7 * 24 * 3_600_000 }) };
}

export async function reassign(admin: Admin, topic: string, request: ReassignRequest, json: boolean): Promise<number> {
  const ref = { topic, partition: request.partition };
  const [result] = request.cancel ? await admin.cancelReassignments([ref]) : await admin.reassignPartitions([{ ...ref, replicas: request.replicas! }]);
  if (result === undefined) throw new UsageError('the broker answered for no partition');
  if (result.error !== undefined) {
    process.stderr.write(`skein topic reassign: ${topic}/${request.partition}: ${result.error.code}: ${result.error.message}\n`);
    return 1;
  }
  if (result.reordered === true) return done(json, result, `${topic}/${request.partition}: replicas reordered to [${request.replicas!.join(',')}]; leadership follows the first`);
  if (!request.wait || result.moveId === undefined) return done(json, result, describeStart(topic, request, result));
  process.stderr.write(`${describeStart(topic, request, result)}\n`);
  const finished = await follow(admin, result.moveId, request.timeoutMs);
  if (finished === null) {
    process.stderr.write(`skein topic reassign: stopped waiting; move ${result.moveId} carries on (watch it: skein topic reassignments ${topic})\n`);
    return 1;
  }
  const text = finished.outcome === 'done' ? `${topic}/${request.partition}: done, replicas [${finished.target.join(',')}]` : `${topic}/${request.partition}: ${finished.outcome}${finished.cancelReason !== null ? `: ${finished.cancelReason}` : ''}, replicas [${finished.original.join(',')}]`;
  done(json, finished, text);
  return finished.outcome === (request.cancel ? 'cancelled' : 'done') ? 0 : 1;
}

function describeStart(topic: string, request: ReassignRequest, result: ReassignmentResult): string {
  if (request.cancel) return `${topic}/${request.partition}: move ${result.moveId} ${result.outcome ?? 'cancelling'}`;
  return `${topic}/${request.partition}: move ${result.moveId} to [${request.replicas!.join(',')}] recorded`;
}

/** Follows one move, a line a second on stderr while it goes; null when the wait ended first (timeout, Ctrl-C). */
async function follow(admin: Admin, moveId: number, timeoutMs: number | undefined): Promise<FinishedMove | null> {
  const stop = interrupted();
  const signal = timeoutMs === undefined ? stop.signal : AbortSignal.any([stop.signal, AbortSignal.timeout(timeoutMs)]);
  const startedMs = performance.now();
  try {
    const watch = admin.watchMoves([moveId], { signal });
    for (;;) {
      const next = await watch.next();
      if (next.done === true) return next.value[0] ?? null;
      for (const move of next.value) process.stderr.write(`  ${progressLine(move)} (${Math.round((performance.now() - startedMs) / 1000)} s)\n`);
    }
  } catch (error) {
    if (signal.aborted) return null;
    throw error;
  } finally {
    stop.dispose();
  }
}

export function progressLine(move: MoveStatus): string {
  const catchUp = move.progress.map((r) => `broker ${r.broker} ${r.caughtUp ? 'caught up' : `${r.offsetsBehind} records (~${mib(r.bytesBehind)}) behind`}`).join(', ');
  return `${move.topic}/${move.partition} [${move.original.join(',')}] → [${move.target.join(',')}]: ${move.stage}${move.detail !== '' ? ` (${move.detail})` : ''}${catchUp !== '' ? `; ${catchUp}` : ''}`;
}

function mib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

/** `topic alter NAME --partitions N` or `--replication R`: exactly one. */
export function alterRequest(parsed: ParsedFlags, name: string): { name: string; partitions?: number; replicationFactor?: number } {
  const partitions = intFlag(parsed, 'partitions', { min: 1, max: brokerLimits.partitionsPerTopicMax });
  const replicationFactor = intFlag(parsed, 'replication', { min: 1, max: brokerLimits.replicationFactorMax });
  if ((partitions === undefined) === (replicationFactor === undefined)) throw new UsageError('topic alter takes exactly one of --partitions N and --replication R');
  return { name, ...(partitions !== undefined ? { partitions } : {}), ...(replicationFactor !== undefined ? { replicationFactor } : {}) };
}

/**
 * More partitions take effect at once (keyed records then go where murmur2 of the key modulo the new count
 * sends them, as in Kafka); another replication factor moves every partition, waited for like a reassign.
 */
export async function alterTopic(admin: Admin, request: { name: string; partitions?: number; replicationFactor?: number }, wait: boolean, json: boolean): Promise<number> {
  const { topic, moveIds } = await admin.alterTopic(request);
  const what = request.partitions !== undefined ? `${topic.partitions.length} partitions` : `replication factor ${request.replicationFactor}: ${moveIds.length} partitions move`;
  if (!wait || moveIds.length === 0) return done(json, { topic, moveIds }, `topic ${topic.name}: ${what}`);
  process.stderr.write(`topic ${topic.name}: ${what}\n`);
  const watch = admin.watchMoves(moveIds);
  for (;;) {
    const next = await watch.next();
    if (next.done === true) {
      const failed = next.value.filter((f) => f.outcome !== 'done');
      done(json, { topic: topic.name, finished: next.value }, `topic ${topic.name}: ${next.value.length - failed.length} moves done${failed.length > 0 ? `, ${failed.length} not` : ''}`);
      return failed.length === 0 ? 0 : 1;
    }
    for (const move of next.value) process.stderr.write(`  ${progressLine(move)}\n`);
  }
}

export async function reassignments(admin: Admin, topic: string | undefined, json: boolean): Promise<number> {
  const listed = await admin.listReassignments(topic === undefined ? {} : { topics: [topic] });
  if (json) {
    process.stdout.write(`${JSON.stringify(listed)}\n`);
    return 0;
  }
  const going = listed.moves.map((m) => `move ${m.moveId} ${progressLine(m)}`);
  const finished = listed.finished.slice(0, 10).map((f) => `move ${f.moveId} ${f.topic}/${f.partition} [${f.original.join(',')}] → [${f.target.join(',')}]: ${f.outcome}${f.cancelReason !== null ? ` (${f.cancelReason})` : ''}`);
  process.stdout.write(`${going.length === 0 ? '(no moves in progress)' : going.join('\n')}\n${finished.length > 0 ? `recently finished:\n  ${finished.join('\n  ')}\n` : ''}`);
  return 0;
}

function done(json: boolean, value: unknown, text: string): number {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
  return 0;
}
