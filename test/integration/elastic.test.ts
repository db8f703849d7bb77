import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { until } from '../support/until.js';
import { describe, expect, inject, it } from 'vitest';
import { defineTopic, serdes, Skein } from '../../sdk/index.js';
import { Prng } from '../../transport/core/prng.js';
import { freePorts } from '../broker/support/cluster.js';
import { closeAfterTest } from '../support/close-after-test.js';
import { Ledger } from '../support/ledger.js';
import { BrokerProcesses } from './support/processes.js';

/**
 * An elastic cluster with real broker processes: a broker joins a running
 * cluster with --join while a producer writes with acks: 'all', comes back
 * from a SIGKILL as the same member, and nothing acknowledged is lost.
 */
let cluster: BrokerProcesses | undefined;
let client: Skein | undefined;

const topic = defineTopic<number, string>('ledger', { value: serdes.cbor<number>(), key: serdes.string() });

function cli(): string {
  const path = inject('cliPath');
  if (path === null) throw new Error('the skein command was not bundled');
  return path;
}

describe('elastic cluster, real processes', () => {
  it('a broker joins under load, serves metadata from its own copy, and rejoins after SIGKILL', async () => {
    cluster = closeAfterTest(new BrokerProcesses(cli(), { size: 3 }));
    await cluster.startAll();
    client = closeAfterTest(new Skein({ brokers: cluster.bootstrap, clientId: 'elastic-test', requestTimeoutMs: 2_000, deliveryTimeoutMs: 60_000 }));
    await client.admin().createTopic({ name: 'ledger', partitions: 2, replicationFactor: 3 });
    const producer = client.producer({ acks: 'all', lingerMs: 2, inFlightMax: 5 });
    const ledger = new Ledger(topic);
    let writing = true;
    const load = ledger.writeWhile(producer, { prng: new Prng(7), keepWriting: () => writing, keys: 4, pauseMs: [1, 5] });

    await cluster.join(4, [2]);
    await until('broker 4 active', async () => (await client!.admin().describeCluster()).brokers.find((b) => b.id === 4)?.state === 'active');
    const direct = new Skein({ brokers: [cluster.address(4)], clientId: 'via-4' });
    try {
      const seen = await until('the topic through broker 4', () => direct.admin().describeTopic('ledger'));
      expect(seen.partitions.map((p) => p.replicas.includes(4))).toEqual([false, false]);
    } finally {
      await direct.close();
    }
    await cluster.kill(4);
    await cluster.start(4);
    // Back as the same member: it answers from its own copy of the metadata, which still has it active.
    const back = new Skein({ brokers: [cluster.address(4)], clientId: 'via-4-again' });
    try {
      const after = await until('broker 4 back', async () => {
        const d = await back.admin().describeCluster();
        return d.storage?.brokerId === 4 && d.brokers.find((b) => b.id === 4)?.state === 'active' && d;
      });
      expect(after.controllerGroup).toEqual({ voters: [1, 2, 3], learners: [4] });
    } finally {
      await back.close();
    }
    writing = false;
    await load;
    expect(ledger.failures).toEqual([]);
    expect(ledger.acked.size).toBeGreaterThan(0);
    await ledger.expectReadBack(client);
  }, 120_000);

  it('a partition moves onto a joined broker under load, its new replica SIGKILLed mid catch-up and restarted; nothing acknowledged is lost', async () => {
    // A slow catch-up (the lowest --move-rate), so the kill lands while the new replica is still a learner.
    cluster = closeAfterTest(new BrokerProcesses(cli(), { size: 3, args: ['--move-rate', '64KiB'] }));
    await cluster.startAll();
    client = closeAfterTest(new Skein({ brokers: cluster.bootstrap, clientId: 'elastic-move', requestTimeoutMs: 2_000, deliveryTimeoutMs: 60_000 }));
    await client.admin().createTopic({ name: 'ledger', partitions: 2, replicationFactor: 3 });
    const producer = client.producer({ acks: 'all', lingerMs: 2, inFlightMax: 5 });
    const ledger = new Ledger(topic);
    // A second partition of 400 entries (1.6 MB) before the move: past the burst of one full append,
    // 64 KiB/s keeps the new replica more than 64 entries (not caught up) behind for seconds.
    await client.admin().createTopic({ name: 'bulk', partitions: 1, replicationFactor: 3 });
    const bulk = client.producer({ acks: 'all', lingerMs: 0 });
    const padding = Buffer.from('p'.repeat(4000));
    for (let i = 0; i < 400; i++) await bulk.send({ topic: 'bulk', messages: [{ value: padding }] });
    let writing = true;
    const load = ledger.writeWhile(producer, { prng: new Prng(11), keepWriting: () => writing, keys: 4, pauseMs: [2, 8] });
    await cluster.join(4, [1, 2]);
    await until('broker 4 active', async () => (await client!.admin().describeCluster()).brokers.find((b) => b.id === 4)?.state === 'active');
    const onto4 = async (name: string): Promise<{ target: number[]; moveId: number }> => {
      const replicas = (await client!.admin().describeTopic(name)).partitions[0]!.replicas;
      const target = [replicas[1]!, replicas[2]!, 4];
      const [started] = await client!.admin().reassignPartitions([{ topic: name, partition: 0, replicas: target }]);
      expect(started!.moveId).toBeGreaterThan(0);
      return { target, moveId: started!.moveId! };
    };
    const moves = [await onto4('bulk'), await onto4('ledger')];
    await until('broker 4 catching up on bulk/0', async () => {
      const move = (await client!.admin().listReassignments({ topics: ['bulk'] })).moves[0];
      return move?.stage === 'catchingUp' && move.progress.some((r) => r.broker === 4 && !r.caughtUp && r.entriesBehind > 0);
    });
    await cluster.kill(4);
    // The move waits for the learner; it resumes when the broker comes back.
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await client.admin().listReassignments({ topics: ['bulk'] })).moves.map((m) => m.moveId)).toEqual([moves[0]!.moveId]);
    await cluster.start(4);
    for (const { moveId } of moves) {
      await until(`move ${moveId} done`, async () => (await client!.admin().listReassignments()).finished.find((f) => f.moveId === moveId)?.outcome === 'done', 90_000);
    }
    writing = false;
    await load;
    expect((await client.admin().describeTopic('bulk')).partitions[0]!.replicas).toEqual(moves[0]!.target);
    expect((await client.admin().describeTopic('ledger')).partitions[0]!.replicas).toEqual(moves[1]!.target);
    expect(ledger.failures).toEqual([]);
    await ledger.expectReadBack(client);
  }, 180_000);

  it('the issue scenario: under load a 4th broker joins, a partition moves onto it, broker 1 is decommissioned while broker 2 is SIGKILLed and restarted; nothing acknowledged is lost', async () => {
    cluster = closeAfterTest(new BrokerProcesses(cli(), { size: 3 }));
    await cluster.startAll();
    client = closeAfterTest(new Skein({ brokers: cluster.bootstrap, clientId: 'elastic-scenario', requestTimeoutMs: 2_000, deliveryTimeoutMs: 90_000 }));
    const admin = client.admin();
    await admin.createTopic({ name: 'ledger', partitions: 3, replicationFactor: 3 });
    const producer = client.producer({ acks: 'all', lingerMs: 2, inFlightMax: 5 });
    const ledger = new Ledger(topic);
    let writing = true;
    const load = ledger.writeWhile(producer, { prng: new Prng(5), keepWriting: () => writing, keys: 6, pauseMs: [2, 6] });
    await cluster.join(4, [3]);
    await until('broker 4 active', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 4)?.state === 'active');
    const [moved] = await admin.reassignPartitions([{ topic: 'ledger', partition: 0, replicas: [4, 2, 3] }]);
    await until('the move done', async () => (await admin.listReassignments()).finished.find((f) => f.moveId === moved!.moveId)?.outcome === 'done', 60_000);
    await admin.decommissionBroker(1);
    await new Promise((r) => setTimeout(r, 300));
    await cluster.kill(2);
    await new Promise((r) => setTimeout(r, 1_500));
    await cluster.start(2);
    await until('broker 1 gone', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 1)?.state === 'gone', 90_000).catch(async (error: unknown) => {
      // Seen twice in full runs on a loaded machine, never alone: what the cluster was doing goes with the failure.
      const state = { cluster: await admin.describeCluster().catch(String), moves: await admin.listReassignments().catch(String), ledger: await admin.describeTopic('ledger').catch(String) };
      const logs = [...cluster!.logs].map(([id, log]) => `--- broker ${id}\n${log.slice(-40).join('\n')}`).join('\n');
      throw new Error(`${(error as Error).message}\n${JSON.stringify(state, null, 1)}\n${logs}`);
    });
    writing = false;
    await load;
    const topicAfter = await admin.describeTopic('ledger');
    expect(topicAfter.partitions.every((p) => p.replicas.length === 3 && !p.replicas.includes(1))).toBe(true);
    expect((await admin.describeCluster()).controllerGroup?.voters).not.toContain(1);
    expect(ledger.failures).toEqual([]);
    await ledger.expectReadBack(client);
    // Not checked: that broker 1 deleted every directory it held. Its last replica moved off may stay on its
    // disk (a replica is deleted after a linearizable metadata read, which a broker removed from the
    // metadata group can no longer make); the data is not served and nothing depends on it.
  }, 240_000);

  it('a joiner with a wrong peer secret exits 1 saying why, and the cluster does not list it', async () => {
    cluster = closeAfterTest(new BrokerProcesses(cli(), { size: 3 }));
    await cluster.startAll();
    const [port] = await freePorts(1);
    const child = spawn(process.execPath, [cli(), 'broker', '--id', '4', '--listen', `127.0.0.1:${port}`, '--data', join(cluster.dir, 'broker-4'), '--join', cluster.address(1)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SKEIN_PEER_SECRET: 'not-the-cluster-peer-secret' },
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain('NOT_AUTHORIZED');
    expect(stderr).toContain('peer secret');
    client = closeAfterTest(new Skein({ brokers: cluster.bootstrap, clientId: 'elastic-test' }));
    expect((await client.admin().describeCluster()).brokers.map((b) => b.id)).toEqual([1, 2, 3]);
  }, 60_000);
});
