import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Skein } from '../sdk/index.js';
import { InProcessCluster } from './broker/support/cluster.js';
import { runSkein, type SkeinRun } from './broker/cli/support.js';

/** Consumer groups from the command line, as an operator runs them. */
let cluster: InProcessCluster;

function skein(args: string[], input?: string): Promise<SkeinRun> {
  return runSkein(args, { env: { SKEIN_BROKERS: cluster.bootstrap.join(',') }, ...(input === undefined ? {} : { input }) });
}

function lines(run: SkeinRun): { topic: string; partition: number; offset: number; value: unknown }[] {
  return run.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { topic: string; partition: number; offset: number; value: unknown });
}

beforeAll(async () => {
  cluster = new InProcessCluster(3);
  await cluster.start();
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

describe('skein group and skein consume --group', () => {
  it('consumes as a group member, resumes where it committed, shows lag, refuses a reset of a live group, resets and deletes', async () => {
    expect((await skein(['topic', 'create', 'ledger', '--partitions', '2', '--replication', '3'])).code).toBe(0);
    const input = Array.from({ length: 10 }, (_, i) => `entry-${i}`).join('\n');
    expect((await skein(['produce', '--topic', 'ledger'], `${input}\n`)).code).toBe(0);
    expect(JSON.parse((await skein(['group', 'list', '--json'])).stdout)).toEqual([]);

    const first = await skein(['consume', '--topic', 'ledger', '--group', 'g1', '--max', '4', '--json']);
    expect(first.code).toBe(0);
    const firstRecords = lines(first);
    expect(firstRecords).toHaveLength(4);

    const described = await skein(['group', 'describe', 'g1', '--json']);
    expect(described.code).toBe(0);
    const partitions = (JSON.parse(described.stdout) as { partitions: { committed: number | null; end: number; lag: number | null }[] }).partitions;
    expect(partitions).toHaveLength(2);
    expect(partitions.reduce((n, p) => n + p.end, 0)).toBe(10);
    expect(partitions.reduce((n, p) => n + (p.committed ?? 0), 0)).toBe(4);
    for (const p of partitions) expect(p.lag).toBe(p.committed === null ? null : p.end - p.committed);
    expect((await skein(['group', 'describe', 'g1'])).stdout).toMatch(/TOPIC\s+PARTITION\s+COMMITTED\s+END\s+LAG/);

    // The next member of the group reads the other six: nothing again, nothing skipped.
    const rest = lines(await skein(['consume', '--topic', 'ledger', '--group', 'g1', '--json']));
    const values = [...firstRecords, ...rest].map((r) => r.value).sort();
    expect(values).toEqual(input.split('\n').sort());
    expect(JSON.parse((await skein(['group', 'list', '--json'])).stdout)).toEqual([{ group: 'g1', state: 'empty', members: 0 }]);

    // A live member: the reset is refused, with the reason.
    const client = new Skein({ brokers: cluster.bootstrap, clientId: 'live-member' });
    const member = client.consumer({ group: 'g1', topic: 'ledger' });
    const deadline = Date.now() + 20_000;
    while (member.assignment().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const refused = await skein(['group', 'reset', 'g1', '--topic', 'ledger', '--to', 'earliest']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/GROUP_NOT_EMPTY: group g1 has 1 member/);
    expect((await skein(['group', 'describe', 'g1'])).stdout).toMatch(/live-member/);
    await member.close();
    await client.close();

    const reset = await skein(['group', 'reset', 'g1', '--topic', 'ledger', '--to', 'earliest', '--json']);
    expect(reset.code).toBe(0);
    expect((JSON.parse(reset.stdout) as { offsets: { offset: number }[] }).offsets.map((o) => o.offset)).toEqual([0, 0]);
    expect((await skein(['group', 'reset', 'g1', '--topic', 'ledger'])).code).toBe(2);
    expect((await skein(['group', 'delete', 'g1'])).code).toBe(0);
    const gone = await skein(['group', 'describe', 'g1']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/UNKNOWN_GROUP/);
  }, 120_000);
});
