import { describe, expect, it } from 'vitest';
import { partitionKey } from '../../../broker/groups/core/partitions.js';
import { MemberReports } from '../../../broker/groups/core/reports.js';
import { GroupShard } from '../../../broker/groups/core/shard.js';
import type { MemberProgress } from '../../../transport/protocol/groups.js';
import { joinCommand, viewOf } from './support/commands.js';

const shapes = [{ name: 'orders', topicId: 1, partitions: 2 }];
const holdsAll = new Set([partitionKey('orders', 0), partitionKey('orders', 1)]);

function progress(partition: number, fields: Partial<MemberProgress> = {}): MemberProgress {
  return { topic: 'orders', partition, fetched: null, finished: null, idleMs: 0, deadLettered: 0, skipped: 0, ...fields };
}

describe('MemberReports (what members say of their progress)', () => {
  it('keeps each member\'s last report of the partitions it holds, idle time counted on to now', () => {
    const reports = new MemberReports();
    reports.report('g', 'a', [progress(0, { fetched: 10, finished: 7, idleMs: 200 }), progress(5)], holdsAll, 1_000);
    expect(reports.progressOf('g', 'a', 1_500)).toEqual([progress(0, { fetched: 10, finished: 7, idleMs: 700 })]);
    expect(reports.progressOf('g', 'b', 1_500)).toEqual([]);
  });

  it('forgets members and groups the shard no longer has (durable counts are the group\'s, committed with its offsets)', () => {
    const shard = new GroupShard();
    viewOf(shard.apply(joinCommand('a', 0, { shapes })));
    const reports = new MemberReports();
    reports.report('g', 'a', [progress(0, { skipped: 1 })], holdsAll, 0);
    reports.report('g', 'gone', [progress(1, { skipped: 1 })], holdsAll, 0);
    reports.report('other', 'x', [progress(1, { skipped: 1 })], holdsAll, 0);
    reports.sweep(shard);
    expect(reports.progressOf('g', 'a', 0)).toHaveLength(1);
    expect(reports.progressOf('g', 'gone', 0)).toEqual([]);
    expect(reports.progressOf('other', 'x', 0)).toEqual([]);
  });
});
