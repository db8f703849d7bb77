import { systemClock } from '../../transport/clock.js';
import { SkeinError, errorSemantics, isSkeinError } from '../../transport/errors.js';
import { recordLimits, sdkLimits } from '../../transport/limits.js';
import type { ProduceResponse } from '../../transport/protocol/messages.js';
import { NO_PRODUCER, encodeRecordBatch } from '../../transport/protocol/record-batch.js';
import type { LeaderChecks } from '../cluster.js';
import { withTimeout } from '../../transport/abort.js';
import { retryLoop } from '../../transport/retry.js';
import { sdkRetryPolicy, type Verdict } from '../retry.js';
import { ProducerBatch, type PendingRecord } from './batch.js';
import type { ByteBudget } from './budget.js';

/** Where a partition's batches go right now: its leader, as far as we know. */
export interface ProduceTarget {
  brokerId: number | null;
  /** Sends one encoded batch (with its producer id's proof when idempotent); resolves with the broker's answer, or null with acks 'none'. */
  transmit(batch: Uint8Array, signal: AbortSignal, producerProof: Uint8Array | null): Promise<ProduceResponse | null>;
  /** Requests go unanswered: has the leader moved, and does it still hear us? (See Cluster.leaderChecks.) */
  checks?: LeaderChecks;
}

export interface PipelineOptions {
  topic: string;
  partition: number;
  idempotent: boolean;
  inFlightMax: number;
  batchBytesMax: number;
  lingerMs: number;
  deliveryTimeoutMs: number;
  budget: ByteBudget;
  /** Finds the partition's leader: one attempt, throwing what went wrong. */
  leader: (signal: AbortSignal) => Promise<ProduceTarget>;
  /** Classifies a failed request and updates routing state (hints, metadata); never throws. */
  onFailure: (error: unknown, brokerId: number | null) => Verdict;
  /**
   * A producer id issued by the cluster, with its proof: the producer's own
   * (shared by its pipelines), or a fresh one (`fresh`) once a partition
   * forgot ours. One attempt, throwing what went wrong.
   */
  identity: (fresh: boolean, signal: AbortSignal) => Promise<ProducerIdentity>;
  /** A batch was sealed (the sticky partitioner moves keyless records on). */
  onBatchSealed?: () => void;
  /** Aborts on a forced close: everything still pending fails with the reason. */
  closeSignal: AbortSignal;
}

export interface PipelineStats {
  batchesSent: number;
  /** Batches sent again after a failure, with the same sequence number and bytes. */
  resends: number;
  /** Resends the broker recognised as already written. */
  duplicates: number;
  /** Batches that needed a new sequence number because the broker refused an earlier one for good. */
  resequenced: number;
  /** Fresh producer ids taken because the broker lost this one's state. */
  rotations: number;
}

/** What initProducer issued: the id, its epoch, and the proof that goes with every batch under it. */
export interface ProducerIdentity {
  producerId: number;
  producerEpoch: number;
  proof: Uint8Array;
}

const int32Max = 0x7fffffff;

/** Whether the broker may have written the batch: any answer but a refusal, or a deposed leader's (its entry may still commit). */
function mayBeWritten(error: SkeinError): boolean {
  return errorSemantics(error.code).notWritten !== true || error.details?.outcome === 'unknown';
}

interface Outcome {
  batch: ProducerBatch;
  response?: ProduceResponse | null;
  error?: SkeinError;
}

interface Run {
  /** Batches sent during this retry run: they are the ones that give up when retries run out. */
  attempted: Set<ProducerBatch>;
  /** Some batch of the last round was settled: its failure is not one to count or wait for. */
  progressed: boolean;
  verdict: Verdict;
}

/** What a round's flight left to decide once it has settled (see PartitionPipeline.round). */
interface Settlement {
  /** Batches to send again, with the same sequence numbers. */
  retry: ProducerBatch[];
  /** Batches refused as out of order (or of an unknown producer): judged against their predecessors. */
  outOfOrder: ProducerBatch[];
  /** The first retriable failure: the round throws it once the flight has settled. */
  failure: SkeinError | null;
  /** The lowest sequence refused for good: batches from it on were not written and take new numbers. */
  refusedFrom: number | null;
  /** The producer id must be replaced (fenced, or its state lost). */
  rotate: boolean;
}

/**
 * The ordered, idempotent path of one partition's batches to its leader.
 *
 * Up to `inFlightMax` batches travel at once, in sequence order. When one
 * fails retriably the pipeline stops sending, lets the others settle, then
 * resends every failed batch in sequence order to the (new) leader with the
 * SAME sequence number and bytes: the broker writes the ones it lacks and
 * answers the ones it has as duplicates with their original offsets, so a
 * leader change costs neither a gap, a reordering nor a duplicate.
 * OUT_OF_ORDER_SEQUENCE after an earlier failure in the same flight is part
 * of that recovery (the broker refused it because its predecessor is
 * missing), not an error.
 *
 * Fates:
 * - acknowledged (also as a duplicate): its records resolve with offsets;
 * - refused for good (a non-retriable answer): its records reject, and the
 *   later batches, which the broker cannot have written either, take new
 *   sequence numbers from its own;
 * - deadline passed: its records reject with TIMEOUT. If the broker may have
 *   written it (a timeout, a dead connection) it keeps travelling, unseen, so
 *   the sequence stays sound; otherwise it leaves like a refused batch.
 * - the broker lost our producer state (UNKNOWN_PRODUCER, or
 *   OUT_OF_ORDER_SEQUENCE with nothing before it): the pipeline asks the
 *   cluster for a fresh producer id and starts again at 0.
 *
 * Rounds of one run retry as every SDK request does (transport/retry.ts,
 * sdkRetryPolicy): exponential backoff with jitter, bounded by
 * sdkLimits.retriesMax failed rounds without progress; a round that settled
 * some batch, or a trusted NOT_LEADER hint, goes again at once.
 */
export class PartitionPipeline {
  private readonly queue: ProducerBatch[] = [];
  private readonly inflight: ProducerBatch[] = [];
  private open: ProducerBatch | null = null;
  private cancelLinger: (() => void) | null = null;
  private running = false;
  private wakeUp: (() => void) | null = null;
  /** Null until the cluster issued one (and again after a rotation). */
  private identity: ProducerIdentity | null = null;
  private nextSequence = 0;
  /** Since when the flight has had batches out and no answer came (see watchFlight). */
  private quietSinceMs = 0;
  readonly stats: PipelineStats = { batchesSent: 0, resends: 0, duplicates: 0, resequenced: 0, rotations: 0 };

  constructor(private readonly options: PipelineOptions) {
  }

  /** Batches not yet settled or still travelling (the producer waits for these on flush). */
  get pendingBatches(): number {
    return this.queue.length + this.inflight.length;
  }

  /** Adds one record (its bytes already acquired from the budget). */
  append(record: PendingRecord): void {
    let batch = this.open;
    if (batch !== null && (batch.bytes + record.bytes > this.options.batchBytesMax || batch.records.length >= recordLimits.batchRecordsMax)) {
      this.seal(batch);
      batch = null;
    }
    if (batch === null) {
      const now = systemClock.nowMs();
      batch = new ProducerBatch(now, now + this.options.deliveryTimeoutMs);
      this.open = batch;
      this.queue.push(batch);
      const lingering = batch;
      this.cancelLinger = lingerFor(this.options.lingerMs, this.inflight.length > 0, () => this.makeReady(lingering));
    }
    batch.add(record);
    if (batch.bytes >= this.options.batchBytesMax) this.seal(batch);
  }

  /** Makes every buffered record sendable now and resolves once all of them have settled. */
  async flush(): Promise<void> {
    const batches = [...this.inflight, ...this.queue];
    if (this.open !== null) this.makeReady(this.open);
    await Promise.all(batches.map((b) => b.settled));
  }

  private makeReady(batch: ProducerBatch): void {
    batch.ready = true;
    this.kick();
  }

  /** No more appends: full, or taken by the pipeline. */
  private seal(batch: ProducerBatch): void {
    batch.ready = true;
    batch.sealed = true;
    if (this.open === batch) {
      this.open = null;
      this.cancelLinger?.();
      this.cancelLinger = null;
      this.options.onBatchSealed?.();
    }
    this.kick();
  }

  private kick(): void {
    if (this.running) {
      this.wakeUp?.();
      return;
    }
    if (!this.hasSendable()) return;
    this.running = true;
    void this.run().finally(() => {
      this.running = false;
      // Work that arrived while the last run was winding down.
      if (this.hasSendable() && !this.options.closeSignal.aborted) this.kick();
    });
  }

  private hasSendable(): boolean {
    const head = this.queue[0];
    return head !== undefined && head.ready;
  }

  private async run(): Promise<void> {
    while (this.hasSendable() && !this.options.closeSignal.aborted) {
      const run: Run = { attempted: new Set(), progressed: false, verdict: 'retry' };
      try {
        const onFailure = (): Verdict | 'progressed' => {
          this.expire();
          return run.progressed ? 'progressed' : run.verdict;
        };
        // A wait the broker asks for (THROTTLED) ends by the first deadline of what waits, which then fails on time.
        const waitMsMax = (): number => this.earliestDeadlineMs() - systemClock.nowMs();
        await retryLoop({ policy: sdkRetryPolicy, signal: this.options.closeSignal, onFailure, waitMsMax }, async () => {
          run.progressed = false;
          await this.round(run);
        });
      } catch (error) {
        if (this.options.closeSignal.aborted) {
          this.dropAll(this.options.closeSignal.reason);
          return;
        }
        // Retries ran out: the batches this run kept failing give up (as at their deadline).
        const cause = isSkeinError(error) ? error : undefined;
        for (const batch of [...this.queue]) {
          if (run.attempted.has(batch)) {
            this.abandon(
              batch,
              new SkeinError('TIMEOUT', {
                message: `produce to ${this.where()} gave up after ${sdkLimits.retriesMax} retries: ${cause?.message ?? String(error)}`,
                cause: error,
              }),
            );
          }
        }
      }
    }
  }

  private where(): string {
    return `${this.options.topic}/${this.options.partition}`;
  }

  /** One attempt: send everything sendable, pipelined; throws the first retriable failure once the flight has settled. */
  private async round(run: Run): Promise<void> {
    const target = await this.findLeader(run);
    if (target === null) return;
    this.expire();
    const settlement = await this.fly(target, run);
    this.judgeOutOfOrder(settlement, run);
    this.settleFailures(settlement);
    if (settlement.failure !== null) throw settlement.failure;
  }

  /** The partition's leader; null when there is nowhere to send (every batch failed); throws what is worth a retry. */
  private async findLeader(run: Run): Promise<ProduceTarget | null> {
    const closeSignal = this.options.closeSignal;
    try {
      const target = await this.options.leader(closeSignal);
      if (this.options.idempotent && this.identity === null) this.identity = await this.askIdentity(closeSignal);
      return target;
    } catch (error) {
      if (closeSignal.aborted) throw closeSignal.reason;
      // Whatever keeps the leader unknown is what the waiting batches will report at their deadline.
      const reason = asSkeinError(error);
      for (const batch of this.queue) batch.lastError = reason;
      run.verdict = this.options.onFailure(error, null);
      if (run.verdict === 'fatal') {
        // Nowhere to send (the topic is gone): every batch fails with the reason.
        this.dropAll(error);
        return null;
      }
      throw error;
    }
  }

  /** Sends batches to `target`, up to inFlightMax at once, until none is out; a failure stops new sends and the rest settle. */
  private async fly(target: ProduceTarget, run: Run): Promise<Settlement> {
    const closeSignal = this.options.closeSignal;
    const settlement: Settlement = { retry: [], outOfOrder: [], failure: null, refusedFrom: null, rotate: false };
    const outcomes: Outcome[] = [];
    const wake = (): void => this.wakeUp?.();
    closeSignal.addEventListener('abort', wake);
    const flight = new AbortController();
    const flightSignal = AbortSignal.any([closeSignal, flight.signal]);
    const stopWatching = this.watchFlight(target, flight);
    try {
      for (;;) {
        if (closeSignal.aborted) throw closeSignal.reason;
        const { failure, refusedFrom, rotate, outOfOrder } = settlement;
        const stopped = failure !== null || refusedFrom !== null || rotate || outOfOrder.length > 0;
        while (!stopped && this.inflight.length < this.options.inFlightMax) {
          const batch = this.takeNext();
          if (batch === null) break;
          this.send(batch, target, run, outcomes, flightSignal);
        }
        if (this.inflight.length === 0 && outcomes.length === 0) return settlement;
        if (outcomes.length === 0) {
          await new Promise<void>((resolve) => (this.wakeUp = resolve));
          this.wakeUp = null;
          continue;
        }
        this.quietSinceMs = systemClock.nowMs();
        for (const outcome of outcomes.splice(0)) this.judge(outcome, target, run, settlement);
      }
    } finally {
      stopWatching();
      closeSignal.removeEventListener('abort', wake);
    }
  }

  /** Settles one answered batch, or notes in `settlement` what its failure leaves to decide. */
  private judge({ batch, response, error }: Outcome, target: ProduceTarget, run: Run, settlement: Settlement): void {
    this.inflight.splice(this.inflight.indexOf(batch), 1);
    if (error === undefined) {
      if (response?.duplicate === true) this.stats.duplicates++;
      this.finish(batch, () => batch.acknowledge(response === null || response === undefined ? null : response.baseOffset));
      run.progressed = true;
      return;
    }
    batch.lastError = error;
    if (mayBeWritten(error)) batch.uncertain = true;
    if (error.code === 'DUPLICATE_SEQUENCE') {
      // Written once already, but the broker no longer knows at which offset.
      const message = `${this.where()}: ${error.message}; the records are stored once, at offsets the broker no longer remembers`;
      this.finish(batch, () => batch.fail(new SkeinError('DUPLICATE_SEQUENCE', { message, cause: error })));
      run.progressed = true;
    } else if (this.options.idempotent && (error.code === 'OUT_OF_ORDER_SEQUENCE' || error.code === 'UNKNOWN_PRODUCER')) {
      // Judged once the flight has settled: only then is it known whether a predecessor failed.
      settlement.outOfOrder.push(batch);
    } else {
      const verdict = this.options.onFailure(error, target.brokerId);
      if (verdict === 'fatal') {
        this.finish(batch, () => batch.fail(error));
        if (batch.baseSequence !== null) settlement.refusedFrom = Math.min(settlement.refusedFrom ?? batch.baseSequence, batch.baseSequence);
        if (error.code === 'PRODUCER_FENCED') settlement.rotate = true;
      } else {
        settlement.retry.push(batch);
        if (settlement.failure === null) {
          settlement.failure = error;
          run.verdict = verdict;
        }
      }
    }
  }

  /** Batches refused as out of order: resent after a predecessor that failed, or (nothing before them failed) under a fresh producer id. */
  private judgeOutOfOrder(settlement: Settlement, run: Run): void {
    const { retry, outOfOrder } = settlement;
    for (const batch of outOfOrder) {
      const sequence = batch.baseSequence ?? 0;
      const predecessorFailed =
        (settlement.refusedFrom !== null && settlement.refusedFrom < sequence) ||
        retry.some((b) => (b.baseSequence ?? 0) < sequence) ||
        outOfOrder.some((b) => (b.baseSequence ?? 0) < sequence);
      if (predecessorFailed) {
        // Refused because a predecessor is missing: not written; it goes again after that one.
        batch.uncertain = false;
        retry.push(batch);
      } else if (batch.abandoned || batch.rotations >= 1) {
        this.finish(batch, () => batch.fail(batch.lastError));
        settlement.refusedFrom = Math.min(settlement.refusedFrom ?? sequence, sequence);
      } else {
        // Nothing before it failed: the broker lost this producer id's state. Start afresh.
        batch.rotations++;
        batch.uncertain = false;
        settlement.rotate = true;
        retry.push(batch);
        if (settlement.failure === null) {
          settlement.failure = batch.lastError;
          run.verdict = 'redirect';
        }
      }
    }
  }

  /**
   * While answers are overdue (leaderCheckAfterMs with batches out and none
   * answered), asks every leaderCheckEveryMs whether the leader moved, and
   * keeps one probe of the leader going; on evidence (a successor at a newer
   * epoch, or a silent connection that a new one replaced), ends the flight
   * with that error, so the batches are resent rather than left to a
   * timeout. Returns the stop.
   */
  private watchFlight(target: ProduceTarget, flight: AbortController): () => void {
    const checks = target.checks;
    if (checks === undefined) return () => {};
    let stopped = false;
    let probing = false;
    let cancelTimer = (): void => {};
    // A probe outlives no flight: once the round is over its answer would mean nothing.
    const watching = new AbortController();
    const probeSignal = AbortSignal.any([flight.signal, watching.signal]);
    const end = (error: SkeinError | null): void => {
      if (error !== null && !stopped) flight.abort(error);
    };
    const tick = async (): Promise<void> => {
      const quietMs = systemClock.nowMs() - this.quietSinceMs;
      if (this.inflight.length > 0 && quietMs >= sdkLimits.leaderCheckAfterMs) {
        if (!probing) {
          probing = true;
          void checks.probe(probeSignal).then(end, () => undefined).finally(() => (probing = false));
        }
        end(await checks.moved().catch(() => null));
      }
      const waitMs = this.inflight.length > 0 && quietMs < sdkLimits.leaderCheckAfterMs ? sdkLimits.leaderCheckAfterMs - quietMs : sdkLimits.leaderCheckEveryMs;
      if (!stopped && !flight.signal.aborted) cancelTimer = systemClock.after(waitMs, () => void tick());
    };
    cancelTimer = systemClock.after(sdkLimits.leaderCheckAfterMs, () => void tick());
    return () => {
      stopped = true;
      cancelTimer();
      watching.abort();
    };
  }

  private send(batch: ProducerBatch, target: ProduceTarget, run: Run, outcomes: Outcome[], signal: AbortSignal): void {
    if (this.inflight.length === 0) this.quietSinceMs = systemClock.nowMs();
    this.inflight.push(batch);
    run.attempted.add(batch);
    if (batch.attempts > 0) this.stats.resends++;
    batch.attempts++;
    this.stats.batchesSent++;
    target.transmit(batch.encoded!, signal, batch.producerProof).then(
      (response) => {
        outcomes.push({ batch, response });
        this.wakeUp?.();
      },
      (error: unknown) => {
        outcomes.push({ batch, error: asSkeinError(error) });
        this.wakeUp?.();
      },
    );
  }

  /** After a failed flight has settled: put retries back in sequence order, renumber what must be. */
  private settleFailures(settlement: Settlement): void {
    const { retry, refusedFrom, rotate } = settlement;
    retry.sort((a, b) => (a.baseSequence ?? 0) - (b.baseSequence ?? 0));
    this.queue.unshift(...retry);
    if (rotate) {
      this.rotate();
      this.renumberFrom(-1);
    } else if (refusedFrom !== null) {
      this.nextSequence = refusedFrom;
      this.renumberFrom(refusedFrom);
    }
  }

  /**
   * Queued batches at or after `sequence` were definitively not written (the
   * broker refused one before them): they take new numbers when next sent.
   * Abandoned ones among them are dropped; their records already failed.
   */
  private renumberFrom(sequence: number): void {
    for (const batch of [...this.queue]) {
      if (batch.baseSequence === null || batch.baseSequence < sequence) continue;
      if (batch.abandoned) {
        this.remove(batch);
        continue;
      }
      batch.resequence();
      this.stats.resequenced++;
    }
  }

  private rotate(): void {
    this.identity = null;
    this.nextSequence = 0;
    this.stats.rotations++;
  }

  /** The next batch to send, sealed, numbered and encoded; null when none may go now. */
  private takeNext(): ProducerBatch | null {
    for (;;) {
      const batch = this.queue[0];
      if (batch === undefined || !batch.ready) return null;
      if (batch.encoded === null) {
        if (this.options.idempotent && batch.baseSequence === null) {
          if (this.nextSequence + batch.records.length > int32Max) {
            // Sequence numbers are int32: start a fresh producer id (the next round asks for it) once nothing older travels.
            if (this.inflight.length === 0) this.rotate();
            return null;
          }
          if (this.identity === null) return null;
          batch.baseSequence = this.nextSequence;
          batch.producerId = this.identity.producerId;
          batch.producerEpoch = this.identity.producerEpoch;
          batch.producerProof = this.identity.proof;
        }
        try {
          batch.encoded = encodeRecordBatch({
            records: batch.records.map((r) => r.input),
            producerId: this.options.idempotent ? batch.producerId : NO_PRODUCER.producerId,
            producerEpoch: this.options.idempotent ? batch.producerEpoch : NO_PRODUCER.producerEpoch,
            baseSequence: batch.baseSequence ?? NO_PRODUCER.baseSequence,
          });
        } catch (error) {
          batch.baseSequence = null;
          this.finish(batch, () => batch.fail(error));
          continue;
        }
        if (batch.baseSequence !== null) this.nextSequence = batch.baseSequence + batch.records.length;
      }
      this.seal(batch);
      this.queue.shift();
      return batch;
    }
  }

  /** A producer id; the wait for it (THROTTLED waits its retryAfterMs) ends by the first deadline of what waits. */
  private async askIdentity(closeSignal: AbortSignal): Promise<ProducerIdentity> {
    const bounded = withTimeout(closeSignal, this.earliestDeadlineMs() - systemClock.nowMs(), () => new SkeinError('TIMEOUT', { message: `no producer id for ${this.where()} before the delivery deadline` }));
    try {
      return await this.options.identity(this.stats.rotations > 0, bounded.signal);
    } finally {
      bounded.dispose();
    }
  }

  private earliestDeadlineMs(): number {
    let earliest = Infinity;
    for (const batch of this.queue) if (!batch.abandoned && batch.deadlineMs < earliest) earliest = batch.deadlineMs;
    return earliest;
  }

  /** Fails the batches whose delivery deadline has passed. */
  private expire(): void {
    const now = systemClock.nowMs();
    for (const batch of [...this.queue]) {
      if (batch.abandoned || now < batch.deadlineMs) continue;
      const last = batch.lastError === null ? '' : `; last error: ${batch.lastError.code}: ${batch.lastError.message}`;
      this.abandon(
        batch,
        new SkeinError('TIMEOUT', {
          message: `produce to ${this.where()} was not acknowledged within deliveryTimeoutMs (${this.options.deliveryTimeoutMs} ms)${last}`,
          cause: batch.lastError ?? undefined,
        }),
      );
    }
  }

  /**
   * Rejects a batch's records. A batch the broker may have written keeps its
   * place and keeps being resent, so that its sequence number settles and the
   * later ones stay sound; any other leaves, and the later ones renumber.
   */
  private abandon(batch: ProducerBatch, error: SkeinError): void {
    batch.fail(error);
    batch.abandoned = true;
    if (batch.attempts > 0 && batch.uncertain) return;
    const sequence = batch.baseSequence;
    this.remove(batch);
    if (sequence !== null) {
      this.nextSequence = sequence;
      this.renumberFrom(sequence);
    }
  }

  private dropAll(reason: unknown): void {
    for (const batch of [...this.queue, ...this.inflight]) {
      batch.fail(reason);
      this.remove(batch);
    }
    this.inflight.length = 0;
  }

  private finish(batch: ProducerBatch, settle: () => void): void {
    settle();
    this.remove(batch);
  }

  /** Takes a batch out of the queue and returns its bytes to the producer buffer. */
  private remove(batch: ProducerBatch): void {
    const at = this.queue.indexOf(batch);
    if (at !== -1) this.queue.splice(at, 1);
    if (this.open === batch) {
      this.open = null;
      this.cancelLinger?.();
      this.cancelLinger = null;
    }
    if (!batch.released) {
      batch.released = true;
      this.options.budget.release(batch.bufferedBytes);
    }
  }
}

function asSkeinError(error: unknown): SkeinError {
  if (isSkeinError(error)) return error;
  return new SkeinError('INTERNAL', { message: error instanceof Error ? error.message : String(error), cause: error });
}

/**
 * Runs `ready` after the linger. Zero means "as soon as the current burst of
 * sends is appended" (setImmediate: a 0 ms setTimeout waits a whole
 * millisecond in Node, most of a lone send's latency) — unless batches are
 * already in flight, when a millisecond of accumulation costs little latency
 * and saves the cluster one replicated batch per burst, which under load
 * lowered both CPU and end-to-end latency.
 */
function lingerFor(lingerMs: number, busy: boolean, ready: () => void): () => void {
  if (lingerMs === 0 && !busy) {
    const immediate = setImmediate(ready);
    return () => clearImmediate(immediate);
  }
  return systemClock.after(lingerMs, ready);
}
