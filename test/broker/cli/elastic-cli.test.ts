import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Skein } from '../../../sdk/index.js';
import { BrokerProcesses } from '../../integration/support/processes.js';
import { until } from '../../support/until.js';
import { bundledSkein, runSkein } from './support.js';

/**
 * Moving partitions as an operator does it, with the `skein` command against
 * real broker processes: three founding brokers and one that joined.
 */
let cluster: BrokerProcesses;
let client: Skein;
let brokersFlag: string[];

beforeAll(async () => {
  cluster = new BrokerProcesses(bundledSkein(), { size: 3 });
  await cluster.startAll();
  await cluster.join(4, [1]);
  client = new Skein({ brokers: cluster.bootstrap, clientId: 'elastic-cli' });
  await until('broker 4 active', async () => (await client.admin().describeCluster()).brokers.find((b) => b.id === 4)?.state === 'active');
  await client.admin().createTopic({ name: 'orders', partitions: 2, replicationFactor: 3 });
  brokersFlag = ['--brokers', cluster.bootstrap.join(',')];
}, 60_000);

afterAll(async () => {
  await client?.close();
  await cluster?.close();
});

describe('skein topic reassign / reassignments, skein cluster describe', () => {
  it('reassign waits for the move, showing progress, and exits 0 once done', async () => {
    const run = await runSkein(['topic', 'reassign', 'orders', '--partition', '0', '--replicas', '4,2,3', ...brokersFlag]);
    expect(run.stderr).toContain('orders/0: move');
    expect(run.stdout).toContain('orders/0: done, replicas [4,2,3]');
    expect(run.code).toBe(0);
    expect((await client.admin().describeTopic('orders')).partitions[0]!.replicas).toEqual([4, 2, 3]);
    const listed = await runSkein(['topic', 'reassignments', ...brokersFlag]);
    expect(listed.stdout).toMatch(/orders\/0 \[1,2,3\] → \[4,2,3\]: done/);
    const described = await runSkein(['cluster', 'describe', ...brokersFlag]);
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/broker 4 at 127\.0\.0\.1:\d+: alive, metadata learner/);
    expect(described.stdout).toMatch(/broker 1 at .*metadata voter/);
  }, 60_000);

  it('--no-wait returns once the move is recorded, --json prints the result', async () => {
    const run = await runSkein(['topic', 'reassign', 'orders', '--partition', '1', '--replicas', '4,3,1', '--no-wait', '--json', ...brokersFlag]);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { moveId: number };
    expect(result.moveId).toBeGreaterThan(0);
    await until('move finished', async () => (await client.admin().listReassignments()).finished.some((f) => f.moveId === result.moveId));
  }, 60_000);

  it('bad input: exit 1 with the typed error for a refused list, exit 2 for bad usage, and nothing changes', async () => {
    const before = (await client.admin().describeTopic('orders')).partitions.map((p) => p.replicas);
    const dup = await runSkein(['topic', 'reassign', 'orders', '--partition', '0', '--replicas', '1,1', ...brokersFlag]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('INVALID_REPLICA_ASSIGNMENT');
    const unknown = await runSkein(['topic', 'reassign', 'orders', '--partition', '0', '--replicas', '1,2,9', ...brokersFlag]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('UNKNOWN_BROKER');
    const noPartition = await runSkein(['topic', 'reassign', 'orders', '--replicas', '1,2,3', ...brokersFlag]);
    expect(noPartition.code).toBe(2);
    expect(noPartition.stderr).toContain('--partition');
    const nothing = await runSkein(['topic', 'reassign', 'orders', '--partition', '0', '--cancel', ...brokersFlag]);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toContain('NO_REASSIGNMENT_IN_PROGRESS');
    expect((await client.admin().describeTopic('orders')).partitions.map((p) => p.replicas)).toEqual(before);
  }, 60_000);
});
