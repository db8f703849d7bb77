import { describe, expect, it } from 'vitest';
import type { MetadataState } from '../../../broker/cluster/metadata-state.js';
import { encodeGroupCommand } from '../../../broker/groups/core/command-codec.js';
import { EndOffsets } from '../../../broker/groups/end-offsets.js';
import { GroupLog } from '../../../broker/groups/group-log.js';
import type { Partition } from '../../../broker/partition/partition.js';
import { Skein } from '../../../sdk/index.js';
import { groupLimits } from '../../../transport/limits.js';
import { decodeBatchHeader, encodeRecordBatch, NO_PRODUCER, stampBatch } from '../../../transport/protocol/record-batch.js';

/** The limits the coordinator and the SDK's group consumers added, each at its edge. */
describe('group integration limits', () => {
  it('a coordinator keeps at most resultsPendingMax uncollected results, dropping the oldest', () => {
    const log = new GroupLog();
    log.collectResults(true);
    const value = encodeGroupCommand({ type: 'expireGroup', group: 'g', nowMs: 1 });
    const count = groupLimits.resultsPendingMax + 1;
    const batch = encodeRecordBatch({ ...NO_PRODUCER, records: Array.from({ length: count }, () => ({ value, timestamp: 1 })) });
    stampBatch(batch, { baseOffset: 0, entryIndex: 1, term: 1 });
    log.applyBatch(decodeBatchHeader(batch), batch);
    expect(log.takeResult(0)).toBeUndefined();
    expect(log.takeResult(1)).toEqual({ ok: true });
    expect(log.takeResult(count - 1)).toEqual({ ok: true });
  });

  it('the end-offset cache holds at most endOffsetsCachedMax partitions, forgetting the least recently used', async () => {
    let asked = 0;
    let local = true;
    const ends = new EndOffsets({
      brokerId: 1,
      metadata: () => ({ topic: () => ({ topicId: 7, partitions: new Proxy([], { get: (_t, key) => (key === 'length' ? 1 << 20 : { leader: 2, leaderEpoch: 1, replicas: [2] }) }) }) }) as unknown as MetadataState,
      partition: (_topic: string, partition: number) => (local ? ({ topicId: 7, highWatermark: partition + 1, isLeader: () => true } as unknown as Partition) : undefined),
      askPeer: async <T>() => {
        asked++;
        return { offset: 1 << 30 } as T;
      },
    });
    const signal = new AbortController().signal;
    const check = (partition: number): Promise<void> => ends.check([{ topic: 't', topicId: 7, partition, offset: partition + 1 }], signal);
    // Local leaders answer, and each answer is remembered: one more than the cache holds.
    for (let partition = 0; partition <= groupLimits.endOffsetsCachedMax; partition++) await check(partition);
    await expect(ends.check([{ topic: 't', topicId: 7, partition: 3, offset: 5 }], signal)).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
    local = false;
    // The newest are still known without asking; the oldest was forgotten, so its leader is asked.
    await check(groupLimits.endOffsetsCachedMax);
    expect(asked).toBe(0);
    await check(0);
    expect(asked).toBe(1);
  });

  it('refuses group options past their bounds, and takes them at the bounds', async () => {
    const skein = new Skein({ brokers: ['127.0.0.1:1'], clientId: 'limits' });
    const handler = (): void => {};
    const base = { group: 'g', topic: 't', handler };
    expect(() => skein.subscribe({ ...base, retry: { attemptsMax: groupLimits.handlerAttemptsMax + 1 } })).toThrow(/attemptsMax must be an integer from 1 to 100/);
    expect(() => skein.subscribe({ ...base, retry: { backoffMs: { max: groupLimits.handlerBackoffMsMax + 1 } } })).toThrow(/max must be an integer/);
    expect(() => skein.consumer({ group: 'g', topic: 't', autoCommitIntervalMs: groupLimits.autoCommitIntervalMsMin - 1 })).toThrow(/autoCommitIntervalMs/);
    expect(() => skein.consumer({ group: 'g', topic: 't', sessionTimeoutMs: groupLimits.sessionTimeoutMsMax + 1 })).toThrow(/sessionTimeoutMs/);
    expect(() => skein.consumer({ group: 'g', topics: Array.from({ length: groupLimits.topicsPerGroupMax + 1 }, (_, i) => `t${i}`) })).toThrow(/at most 64 topics/);
    expect(() => skein.consumer({ group: '', topic: 't' })).toThrow(/group name must not be empty/);
    expect(() => skein.subscribe({ ...base, deadLetterTopic: 'bad name' })).toThrow(/deadLetterTopic/);
    const atBounds = [
      skein.subscribe({ ...base, retry: { attemptsMax: groupLimits.handlerAttemptsMax, backoffMs: { min: 0, max: groupLimits.handlerBackoffMsMax } } }),
      skein.consumer({ group: 'g', topics: Array.from({ length: groupLimits.topicsPerGroupMax }, (_, i) => `t${i}`), autoCommitIntervalMs: groupLimits.autoCommitIntervalMsMin, sessionTimeoutMs: groupLimits.sessionTimeoutMsMax }),
    ];
    expect(atBounds).toHaveLength(2);
    await skein.close({ signal: AbortSignal.timeout(1) }).catch(() => {});
  });
});
