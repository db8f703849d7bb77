import { groupLimits } from '../../transport/limits.js';
import { decodeRecords, type BatchHeader } from '../../transport/protocol/record-batch.js';
import type { PartitionMachine } from '../partition/partition.js';
import { decodeGroupCommand } from './core/command-codec.js';
import { refused, type GroupResult } from './core/commands.js';
import { GroupShard } from './core/shard.js';
import { decodeGroupsSnapshot, encodeGroupsSnapshot, isGroupsSnapshot } from './core/snapshot.js';

/**
 * The groups of one partition of `__skein_groups`, as its records apply: each
 * record's value is one group command, applied to the partition's
 * `GroupShard` in log order on every replica (so a follower that becomes the
 * coordinator already holds every group), snapshotted with the partition's
 * log and restored from it after a restart.
 *
 * While this replica leads, it also keeps each command's result by offset,
 * for the coordinator that proposed it to answer with (bounded: a proposal
 * whose answer nobody collects, a deposed leader's, is dropped oldest first).
 */
export class GroupLog implements PartitionMachine {
  readonly keepEntries = groupLimits.entriesKeptMax;
  private shardValue = new GroupShard();
  private results: Map<number, GroupResult> | null = null;
  /** Records that did not hold a command this broker can read: skipped by every replica alike, and counted. */
  unreadable = 0;

  get shard(): GroupShard {
    return this.shardValue;
  }

  applyBatch(header: BatchHeader, batch: Uint8Array): void {
    if (header.control) return;
    for (const record of decodeRecords(batch, { verifyBody: false })) {
      let result: GroupResult;
      try {
        if (record.value === null) throw new Error('a record without a value');
        result = this.shardValue.apply(decodeGroupCommand(record.value));
      } catch (error) {
        this.unreadable++;
        result = refused('MALFORMED_REQUEST', `group command at offset ${record.offset} is unreadable: ${(error as Error).message}`);
      }
      if (this.results === null) continue;
      this.results.set(record.offset, result);
      if (this.results.size > groupLimits.resultsPendingMax) this.results.delete(this.results.keys().next().value!);
    }
  }

  /** Starts (leading) or stops keeping results for the coordinator. */
  collectResults(on: boolean): void {
    this.results = on ? new Map() : null;
  }

  /** The result of the command applied at `offset`, once. */
  takeResult(offset: number): GroupResult | undefined {
    const result = this.results?.get(offset);
    this.results?.delete(offset);
    return result;
  }

  snapshotState(): Uint8Array {
    return encodeGroupsSnapshot(this.shardValue);
  }

  restoreState(state: Uint8Array): void {
    this.shardValue = decodeGroupsSnapshot(state);
  }

  checkState(state: Uint8Array): boolean {
    return isGroupsSnapshot(state);
  }
}
