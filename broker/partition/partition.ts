import { abortable, withTimeout } from '../../transport/abort.js';
import { SkeinError } from '../../transport/errors.js';
import type { Acks, LeaderHint, ProduceResponse } from '../../transport/protocol/messages.js';
import { type BatchHeader, checkRecordFraming, decodeBatchHeader } from '../../transport/protocol/record-batch.js';
import type { ReadResult } from '../log/index.js';
import { LogReplica, type LogReplicaOptions, type ReplicaHooks } from '../replica/log-replica.js';
import type { AdvanceSignal } from './advance-signal.js';
import { type BatchIdentity, noProducerId } from './producer-state.js';
import { Sequencer } from './sequencer.js';
import type { PartitionView } from './view.js';

export interface PartitionOptions extends Omit<LogReplicaOptions, 'hooks' | 'group'> {
  topic: string;
  topicId: number;
  partition: number;
  /** The first replica in the metadata, which leadership returns to (see LeaderBalancer). */
  preferredLeader: number;
  /** Leadership (the ability to take writes) was gained or lost. */
  onLeadership?: (writable: boolean, partition: Partition) => void;
  /**
   * A state machine fed by the partition's records (a coordinator's groups,
   * see broker/groups): it sees every committed batch and is snapshotted with
   * the log, so a restart replays only what came after its snapshot.
   */
  machine?: PartitionMachine;
}

/** See PartitionOptions.machine. */
export interface PartitionMachine extends Required<Pick<ReplicaHooks, 'snapshotState' | 'restoreState' | 'checkState'>> {
  applyBatch(header: BatchHeader, batch: Uint8Array): void;
  /** Log entries kept behind a snapshot (for followers a little behind): the state is in the snapshot. */
  readonly keepEntries: number;
}

export interface ProduceOptions {
  acks: Acks;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Throws unless the batch's producer id was issued to the client sending it (see producer-proof.ts). */
  verifyProducer?: (producerId: number, producerEpoch: number) => void;
}

export function partitionGroup(topicId: number, partition: number): string {
  return `p:${topicId}:${partition}`;
}

/**
 * This broker's replica of one partition: a Raft group whose log is the
 * partition log, plus what a leader needs to take writes exactly once (the
 * idempotent-producer state, rebuilt from the log as entries apply, so it
 * survives leader changes and restarts).
 */
export class Partition implements PartitionView {
  readonly topic: string;
  readonly topicId: number;
  readonly partition: number;
  /** The first replica in the metadata; a finished move changes it. */
  preferredLeader: number;
  private readonly sequencer = new Sequencer();
  private replica!: LogReplica;
  private readonly retains: boolean;
  private readonly machine: PartitionMachine | undefined;

  private constructor(options: PartitionOptions) {
    this.machine = options.machine;
    this.retains = options.config.retentionBytes !== null || options.config.retentionMs !== null;
    this.topic = options.topic;
    this.topicId = options.topicId;
    this.partition = options.partition;
    this.preferredLeader = options.preferredLeader;
  }

  static async open(options: PartitionOptions): Promise<Partition> {
    const partition = new Partition(options);
    const { machine } = options;
    partition.replica = await LogReplica.open({
      ...options,
      group: partitionGroup(options.topicId, options.partition),
      // Producers wait on the leader's commit, not the followers' knowledge of it: one Raft round per batch, not two.
      commitNotice: 'piggyback',
      hooks: {
        applyBatch: (header, batch) => {
          partition.sequencer.applied(identityOf(header), header.baseOffset);
          machine?.applyBatch(header, batch);
        },
        ...(machine === undefined ? {} : { snapshotState: () => machine.snapshotState(), restoreState: (state: Uint8Array) => machine.restoreState(state), checkState: (state: Uint8Array) => machine.checkState(state) }),
        leadershipChanged: (writable) => {
          // Proposals of an earlier leadership not yet committed may never be: their retries must not
          // look like duplicates. A new leadership starts from what is applied, nothing else.
          partition.sequencer.dropPending();
          options.onLeadership?.(writable, partition);
        },
      },
    });
    return partition;
  }

  // ------------------------------------------------------------------ PartitionView

  isLeader(): boolean {
    return this.replica.isWritable();
  }

  leaderHint(): LeaderHint {
    return this.replica.leaderHint();
  }

  get highWatermark(): number {
    return this.replica.highWatermark;
  }

  get logStartOffset(): number {
    return this.replica.logStartOffset;
  }

  get logEndOffset(): number {
    return this.replica.logEndOffset;
  }

  readCommitted(offset: number, maxBytes: number, options?: { withinBudget?: boolean }): ReadResult {
    return this.replica.readCommitted(offset, maxBytes, options);
  }

  offsetForTimestamp(timestamp: number): number | null {
    return this.replica.offsetForTimestamp(timestamp);
  }

  get changes(): AdvanceSignal {
    return this.replica.changes;
  }

  get closed(): boolean {
    return this.replica.closed;
  }

  /** Why this replica stopped by itself (its disk is full, or failed), or null. */
  get storageFailure(): SkeinError | null {
    return this.replica.storageFailure;
  }

  get raft(): LogReplica['raft'] {
    return this.replica.raft;
  }

  get log(): LogReplica['log'] {
    return this.replica.log;
  }

  // ------------------------------------------------------------------ writes

  /**
   * Appends one producer batch. Verifies every byte (never store what failed
   * its CRC, or records a consumer could not read), takes an idempotent
   * batch only from the client its producer id was issued to
   * (`verifyProducer` checks the proof that came with it; without it, no
   * idempotent batch is taken), refuses
   * what the idempotence rules refuse, answers a retry of a batch already
   * in the log with its original offset, and otherwise proposes it,
   * answering per `acks`: 'all' once committed, 'leader' once in this
   * replica's log, 'none' at once.
   */
  async produce(batch: Uint8Array, options: ProduceOptions): Promise<ProduceResponse> {
    const header = decodeBatchHeader(batch, { verifyBody: true });
    if (header.control) throw new SkeinError('MALFORMED_REQUEST', { message: 'control batches are written by the broker, never by producers' });
    // Consumers decode what is stored: a payload that is not framed as its records never gets in.
    checkRecordFraming(batch, header);
    const identity = identityOf(header);
    this.replica.assertWritable();
    if (identity.producerId !== noProducerId) {
      if (options.verifyProducer === undefined) throw new SkeinError('INVALID_PRODUCER_ID', { message: `producer id ${identity.producerId} comes with no proof that it was issued to this client` });
      options.verifyProducer(identity.producerId, identity.producerEpoch);
    }
    const verdict = this.sequencer.check(identity);
    if (verdict.kind === 'error') throw verdict.error;
    const deadline = withTimeout(options.signal, options.timeoutMs, () => new SkeinError('TIMEOUT', { message: `${this.topic}/${this.partition}: not acknowledged within ${options.timeoutMs} ms` }));
    const { signal } = deadline;
    try {
      if (verdict.kind === 'duplicate') {
        if (options.acks === 'all') await this.waitCommitted(verdict.baseOffset + header.recordCount, signal);
        return { baseOffset: verdict.baseOffset, duplicate: true };
      }
      const proposal = this.replica.propose(batch, header, { signal });
      this.sequencer.proposed(identity, proposal.baseOffset);
      try {
        if (options.acks === 'all') await proposal.committed;
        else if (options.acks === 'leader') await abortable(proposal.persisted, signal);
      } catch (error) {
        // The storage failed under the batch: say so (retriable; whether a follower kept it is unknown, so the producer resends it as it is).
        if (this.replica.storageFailure !== null) throw this.replica.notWritable();
        throw asTimeout(error, signal, `${this.topic}/${this.partition}: batch at offset ${proposal.baseOffset} not acknowledged within ${options.timeoutMs} ms`);
      }
      return { baseOffset: proposal.baseOffset, duplicate: false };
    } finally {
      deadline.dispose();
    }
  }

  /** A graceful stop: hands leadership over and waits until the others can do without this replica; see LogReplica.leave. */
  leave(options: Parameters<LogReplica['leave']>[0]): Promise<boolean> {
    return this.replica.leave(options);
  }

  /**
   * Snapshots and retention (see LogReplica.maintain). A partition's state is
   * its log, so its snapshots keep every entry: retention alone decides what
   * goes, and a topic with retention snapshots every time so it can. A
   * partition feeding a state machine keeps only `keepEntries` behind its
   * snapshot: the snapshot is its state.
   */
  maintain(nowMs: number, options: { force?: boolean } = {}): Promise<number> {
    if (this.machine !== undefined) return this.replica.maintain({ nowMs, keepEntries: this.machine.keepEntries, force: options.force === true });
    return this.replica.maintain({ nowMs, keepEntries: Number.MAX_SAFE_INTEGER, force: this.retains });
  }

  /** Closes the replica; `discard` (its data is about to be deleted) skips the final flush. */
  close(options: { discard?: boolean } = {}): Promise<void> {
    return this.replica.close(options);
  }

  private async waitCommitted(offset: number, signal: AbortSignal): Promise<void> {
    while (this.replica.highWatermark < offset) {
      if (signal.aborted) throw asTimeout(signal.reason, signal, `${this.topic}/${this.partition}: duplicate batch not committed in time`);
      this.replica.assertWritable();
      await this.changes.next(signal);
    }
  }
}

function identityOf(header: BatchHeader): BatchIdentity {
  return { producerId: header.producerId, producerEpoch: header.producerEpoch, baseSequence: header.baseSequence, recordCount: header.recordCount };
}

/** A deadline that passed is a retriable TIMEOUT (the idempotent producer may resend safely); other errors pass through. */
function asTimeout(error: unknown, signal: AbortSignal, message: string): unknown {
  if (error instanceof SkeinError) return error;
  if (signal.aborted) return new SkeinError('TIMEOUT', { message, cause: error });
  return error;
}
