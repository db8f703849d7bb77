import { describe, expect, it } from 'vitest';
import type { Skein } from '../../sdk/index.js';
import { brokerLimits } from '../../transport/limits.js';
import { clusterForTest } from './support/cluster.js';

/** Partitions whose leader, as the metadata reports it, is not their first replica. */
async function misplaced(skein: Skein, topic: string): Promise<number[]> {
  const { partitions } = await skein.admin().describeTopic(topic);
  return partitions.filter((p) => p.leader !== p.replicas[0]).map((p) => p.partition);
}

async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('preferred leaders', () => {
  it('partitions are led by their preferred replicas, spread evenly, and leadership returns to a broker that crashed and came back', async () => {
    const { cluster, client } = await clusterForTest(3);
    await client.admin().createTopic({ name: 'spread', partitions: 6, replicationFactor: 3 });
    await until('every partition is led by its first replica', async () => (await misplaced(client, 'spread')).length === 0);
    const { partitions } = await client.admin().describeTopic('spread');
    const perBroker = new Map<number, number>();
    for (const p of partitions) perBroker.set(p.leader!, (perBroker.get(p.leader!) ?? 0) + 1);
    expect([...perBroker.values()]).toEqual([2, 2, 2]);

    // A crash (no handover): the survivors take its partitions; on its return they give them back.
    const victim = 2;
    await cluster.stopBroker(victim, { graceful: false });
    await until('the victim leads nothing', async () => (await client.admin().describeTopic('spread')).partitions.every((p) => p.leader !== victim && p.leader !== null));
    expect((await misplaced(client, 'spread')).length).toBe(2);
    const producer = client.producer({ lingerMs: 1 });
    await producer.send({ topic: 'spread', messages: Array.from({ length: 60 }, (_, i) => ({ value: i, partition: i % 6 })) });
    await cluster.startBroker(victim);
    await until('leadership is back with the preferred replicas', async () => (await misplaced(client, 'spread')).length === 0);
    // Nothing was lost on the way, and the partitions take writes where they are now led.
    await producer.send({ topic: 'spread', messages: Array.from({ length: 6 }, (_, i) => ({ value: 100 + i, partition: i })) });
    const consumer = client.consumer({ topic: 'spread', from: 'earliest' });
    const seen: number[] = [];
    while (seen.length < 66) for (const record of await consumer.fetch({ recordsMax: 1000, waitMsMax: 500 })) seen.push(record.value as number);
    expect(seen.sort((a, b) => a - b)).toEqual([...Array.from({ length: 60 }, (_, i) => i), ...Array.from({ length: 6 }, (_, i) => 100 + i)]);
    await consumer.close();
    await producer.close();
  }, 90_000);

  it('can be turned off: then leadership stays where elections put it', async () => {
    const { cluster, client } = await clusterForTest(3, { leaderBalance: false });
    await client.admin().createTopic({ name: 'as-elected', partitions: 3, replicationFactor: 3 });
    await until('every partition has a leader', async () => (await client.admin().describeTopic('as-elected')).partitions.every((p) => p.leader !== null));
    const victim = (await client.admin().describeTopic('as-elected')).partitions[0]!.leader!;
    await cluster.stopBroker(victim, { graceful: false });
    await until('another broker leads partition 0', async () => {
      const leader = (await client.admin().describeTopic('as-elected')).partitions[0]!.leader;
      return leader !== null && leader !== victim;
    });
    await cluster.startBroker(victim);
    // The hold, in the test cluster's timing (20 ms ticks, 10-tick election timeout), plus time to act on it.
    const holdMs = brokerLimits.leaderBalanceHoldElectionTimeouts * 10 * 20;
    await new Promise((r) => setTimeout(r, holdMs + 2_000));
    expect((await client.admin().describeTopic('as-elected')).partitions[0]!.leader).not.toBe(victim);
  }, 90_000);
});
