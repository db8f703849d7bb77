import { join } from 'node:path';
import { systemClock } from '../../transport/clock.js';
import type { Prng } from '../../transport/core/prng.js';
import { SkeinError } from '../../transport/errors.js';
import { brokerLimits } from '../../transport/limits.js';
import type { BrokerInfo } from '../../transport/protocol/messages.js';
import { decodeBatchHeader, decodeRecords, encodeRecordBatch, NO_PRODUCER } from '../../transport/protocol/record-batch.js';
import type { RaftMux } from '../raft/mux.js';
import { LogReplica, type RaftTiming } from '../replica/log-replica.js';
import type { MetadataGroupView } from './core/membership.js';
import { decodeCommand, decodeMetadata, encodeCommand, encodeMetadata, readMetadataSnapshot } from './commands.js';
import { type CommandResult, type MetadataCommand, MetadataState, type MetadataSnapshot } from './metadata-state.js';

/**
 * This broker's replica of the metadata group (the controller). Every broker
 * of the initial voter list is a voter; the leader is "the controller" and
 * is the only one that proposes commands (others forward theirs to it).
 * Commands are one-record batches in the group's log, applied to a
 * MetadataState in log order on every replica.
 */
export interface ControllerOptions {
  brokerId: number;
  dataDir: string;
  clusterId: string;
  /**
   * The founding brokers (--peers): every replica's state starts with them, since they are in no log
   * entry. A broker that joined later learns them when it joins and keeps them (storage-identity.ts).
   */
  peers: readonly BrokerInfo[];
  /** Write the group's first entry with the founders as voters (a founding broker), or take the log from the leader (a joiner). */
  bootstrap: boolean;
  mux: RaftMux;
  prng: Prng;
  timing: RaftTiming;
  onFatal?: (error: unknown) => void;
}

export const metadataGroup = 'meta';


export class Controller {
  state: MetadataState;
  private replica!: LogReplica;
  private readonly results = new Map<number, (result: CommandResult) => void>();
  private readonly listeners = new Set<() => void>();
  private readonly options: ControllerOptions;

  private constructor(options: ControllerOptions) {
    this.options = options;
    this.state = new MetadataState(options.clusterId, options.peers);
  }

  static async open(options: ControllerOptions): Promise<Controller> {
    const controller = new Controller(options);
    controller.replica = await controller.openReplica();
    return controller;
  }

  /**
   * Reopens this replica after its storage failed (the disk has room again):
   * the state is rebuilt from the snapshot and the log, as after a restart.
   * Until the log is replayed the state is older, never ahead: a topic
   * created later is simply not there yet (its id not yet issued).
   */
  async reopen(): Promise<void> {
    await this.replica.close();
    this.state = new MetadataState(this.options.clusterId, this.options.peers);
    this.results.clear();
    this.replica = await this.openReplica();
    for (const listener of this.listeners) listener();
  }

  private openReplica(): Promise<LogReplica> {
    const controller = this;
    const options = this.options;
    return LogReplica.open({
      group: metadataGroup,
      brokerId: options.brokerId,
      dir: join(options.dataDir, 'metadata'),
      // A broker that joined a running cluster takes the group's log from its leader (it is added as a learner).
      voters: options.bootstrap ? options.peers.map((p) => p.id) : null,
      config: { retentionMs: null, retentionBytes: null, segmentBytes: 16 * 1024 * 1024, flush: { mode: 'always' } },
      mux: options.mux,
      prng: options.prng,
      timing: options.timing,
      onFatal: options.onFatal,
      hooks: {
        applyBatch: (header, batch) => {
          for (const record of decodeRecords(batch, { verifyBody: false })) {
            const result = controller.applyBytes(record.value);
            controller.results.get(header.entryIndex)?.(result);
          }
          controller.results.delete(header.entryIndex);
          for (const listener of controller.listeners) listener();
        },
        snapshotState: () => encodeMetadata(controller.state.snapshot()),
        restoreState: (bytes) => {
          controller.state = MetadataState.fromSnapshot(readMetadataSnapshot(decodeMetadata(bytes, 'metadata snapshot')));
          for (const listener of controller.listeners) listener();
        },
        checkState: (bytes) => {
          try {
            readMetadataSnapshot(decodeMetadata(bytes, 'metadata snapshot'));
            return true;
          } catch {
            return false;
          }
        },
      },
    });
  }

  /** The founding brokers every replica's state starts with (see ControllerOptions.peers). */
  get founders(): readonly BrokerInfo[] {
    return this.options.peers;
  }

  /** True while this broker is the controller and may propose. */
  isLeader(): boolean {
    return this.replica.isWritable();
  }

  /** The controller's broker id as far as this replica knows, or null. */
  leaderId(): number | null {
    return this.replica.leaderHint().leaderId;
  }

  /**
   * True once this replica applied an entry of the current leader's term: its
   * metadata is then at least as new as when that leader took over. Before
   * that (just after a restart, say) "no such topic" may only mean "not
   * replayed yet".
   */
  isCaughtUp(): boolean {
    const status = this.replica.raft.status();
    return status.leader !== 0 && status.applied >= status.commit && this.replica.raft.termAt(status.applied) === status.term;
  }

  /** What the controller observes of the metadata group (as its leader), for the membership driver. */
  groupView(): MetadataGroupView {
    const status = this.replica.raft.status();
    return { config: status.config, configCommitted: status.configIndex <= status.commit, lastIndex: status.lastIndex, progress: this.replica.raft.peerProgress() };
  }

  /** Hands the metadata group's leadership to another voter that could take it at once; false if none could. */
  handOver(): boolean {
    const status = this.replica.raft.status();
    const next = status.config.voters.find((id) => id !== status.id && this.replica.raft.peerCaughtUp(id));
    if (next === undefined) return false;
    try {
      this.replica.raft.transferLeadership(next);
      return true;
    } catch {
      return false;
    }
  }

  /** Hands the metadata group's leadership to a voter `eligible` takes, and waits for it (see LogReplica.handOverLeadership). */
  handOverAndWait(timeoutMs: number, eligible: (id: number) => boolean): Promise<boolean> {
    return this.replica.handOverLeadership(timeoutMs, eligible);
  }

  get raft(): LogReplica['raft'] {
    return this.replica.raft;
  }

  /** Runs `listener` after every applied change to the metadata. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Proposes a command (this broker must be the controller) and resolves
   * with its result once committed and applied: a refused command is an
   * error result, not an exception. Throws NOT_CONTROLLER with a hint otherwise.
   */
  async propose(command: MetadataCommand, options: { signal?: AbortSignal } = {}): Promise<CommandResult> {
    if (!this.replica.isWritable()) {
      const leaderId = this.leaderId();
      throw new SkeinError('NOT_CONTROLLER', { message: `broker ${this.options.brokerId} is not the controller`, details: { leaderId } });
    }
    const batch = encodeRecordBatch({ ...NO_PRODUCER, records: [{ key: null, value: encodeCommand(command), headers: [], timestamp: systemClock.epochMs() }] });
    const proposal = this.replica.propose(batch, decodeBatchHeader(batch, { verifyBody: false }), options);
    const result = new Promise<CommandResult>((resolve) => this.results.set(proposal.index, resolve));
    try {
      await proposal.committed;
    } catch (error) {
      this.results.delete(proposal.index);
      throw error;
    }
    // The driver applies an entry before it tells its proposer, so the result is in.
    return result;
  }

  /** Snapshots the metadata now and then and compacts its log behind the snapshot. */
  maintain(nowMs: number, options: { force?: boolean } = {}): Promise<number> {
    return this.replica.maintain({ nowMs, keepEntries: brokerLimits.metadataEntriesKeptMax, force: options.force });
  }

  close(): Promise<void> {
    this.listeners.clear();
    return this.replica.close();
  }

  private applyBytes(value: Uint8Array | null): CommandResult {
    if (value === null) return { ok: false, error: { code: 'MALFORMED_REQUEST', message: 'empty metadata command' } };
    let command: MetadataCommand;
    try {
      command = decodeCommand(value);
    } catch (error) {
      const e = error instanceof SkeinError ? error : new SkeinError('MALFORMED_REQUEST', { cause: error });
      return { ok: false, error: { code: e.code, message: e.message } };
    }
    return this.state.apply(command);
  }
}
