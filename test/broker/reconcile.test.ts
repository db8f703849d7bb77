import { describe, expect, it } from 'vitest';
import type { Broker } from '../../broker/broker.js';
import { Skein } from '../../sdk/index.js';
import { closeAfterTest } from '../support/close-after-test.js';
import { InProcessCluster } from './support/cluster.js';

/**
 * A broker hosts what the metadata wants now, not what it wanted when it
 * started a pass: a topic deleted while its partitions are being opened
 * stops being opened at once (the measured bug: thousands of partitions
 * created then deleted kept brokers opening deleted partitions for minutes).
 */
type Internals = {
  controller: { state: { topic(name: string): unknown }; onChange(listener: () => void): () => void };
  partition(topic: string, partition: number): unknown;
};

async function until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('reconciling with the metadata', () => {
  it('stops opening the partitions of a topic once its deletion is applied', async () => {
    const cluster = closeAfterTest(new InProcessCluster(1));
    await cluster.start();
    const broker = cluster.brokers.get(1)! as Broker;
    const internals = broker as unknown as Internals;
    const client = closeAfterTest(new Skein({ brokers: cluster.bootstrap, clientId: 'reconcile', requestTimeoutMs: 10_000 }));
    const partitions = 200;
    let openedAtDeletion: number | null = null;
    let createdSeen = false;
    internals.controller.onChange(() => {
      if (openedAtDeletion === null && createdSeen && internals.controller.state.topic('big') === undefined) openedAtDeletion = broker.counters.partitionsOpened;
    });
    // createTopic answers once every partition has a leader; the deletion goes in while they are being opened.
    // (It never answers: the topic is deleted before its leaders are known. The client is closed after the test.)
    void client.admin().createTopic({ name: 'big', partitions, replicationFactor: 1 }).catch(() => {});
    await until('some partitions are open', () => broker.counters.partitionsOpened >= 5);
    createdSeen = true;
    await client.admin().deleteTopic('big');
    await until('the deletion is applied here', () => openedAtDeletion !== null);
    await until('every open partition of the topic is closed', () => Array.from({ length: partitions }, (_, p) => internals.partition('big', p)).every((p) => p === undefined));
    // At most the one open under way when the deletion landed.
    expect(broker.counters.partitionsOpened - openedAtDeletion!).toBeLessThanOrEqual(1);
    expect(broker.counters.partitionsOpened).toBeLessThan(partitions);
    expect(broker.counters.partitionsClosed).toBe(broker.counters.partitionsOpened);
  });
});
