import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Broker } from '../../broker/broker.js';
import { defineTopic, serdes, Skein } from '../../sdk/index.js';
import { InProcessCluster } from './support/cluster.js';

/**
 * A real full disk: broker 3's data directory is a small tmpfs. Mounting one
 * needs privileges; where they are missing the test skips, saying why.
 * The broker must survive ENOSPC on its replicas' appends (no unhandled
 * rejection: vitest fails the run on one), keep serving, say so, and resume
 * by itself once space is freed, catching up what it missed.
 */
const mountProbe = (() => {
  if (process.platform !== 'linux') return 'tmpfs mounts are tried on Linux only';
  const dir = join('/tmp', `skein-mount-probe-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { encoding: 'utf8' });
  if (mounted.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return `cannot mount a tmpfs here (${(mounted.stderr || mounted.error?.message || 'mount failed').trim()})`;
  }
  spawnSync('umount', [dir]);
  rmSync(dir, { recursive: true, force: true });
  return null;
})();

const topic = defineTopic<number, string>('disk', { value: serdes.cbor<number>(), key: serdes.string() });
let cluster: InProcessCluster | undefined;
let client: Skein | undefined;
let mountPoint: string | undefined;
afterEach(async () => {
  try {
    await client?.close().catch(() => {});
    for (const id of [...(cluster?.brokers.keys() ?? [])]) await cluster?.stopBroker(id, { graceful: false });
  } finally {
    // Whatever failed above, the mount must not outlive the test. Lazily: a broker stopped as by a crash
    // may still hold a file there for a moment, and a plain umount then fails with EBUSY, leaving a
    // mount point the cluster's cleanup cannot remove.
    if (mountPoint !== undefined) spawnSync('umount', ['-l', mountPoint]);
    await cluster?.close();
    client = undefined;
    cluster = undefined;
    mountPoint = undefined;
  }
});

type Peek = { partition(t: string, p: number): { logEndOffset: number; highWatermark: number; storageFailure: unknown } | undefined };
const peek = (broker: Broker) => broker as unknown as Peek;

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(mountProbe !== null)(`a broker whose disk fills${mountProbe === null ? '' : ` (skipped: ${mountProbe})`}`, () => {
  it('keeps serving, says so, and resumes by itself once space is freed', async () => {
    cluster = new InProcessCluster(3);
    mountPoint = join(cluster.dir, 'broker-3');
    mkdirSync(mountPoint, { recursive: true });
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mountPoint]).status).toBe(0);
    await cluster.start();
    client = new Skein({ brokers: cluster.bootstrap, clientId: 'storage-full', requestTimeoutMs: 3_000, deliveryTimeoutMs: 60_000 });
    await client.admin().createTopic({ name: 'disk', partitions: 2, replicationFactor: 3 });
    const producer = client.producer({ acks: 'all', lingerMs: 2 });
    await producer.send({ topic, messages: [{ key: 'k0', value: -1 }] });

    // Leave broker 3 less room than the records about to be produced.
    const { bavail, bsize } = statfsSync(mountPoint);
    writeFileSync(join(mountPoint, 'ballast'), Buffer.alloc(Number(bavail) * Number(bsize) - 512 * 1024));
    const broker3 = cluster.brokers.get(3)!;
    const padding = 'x'.repeat(4000);
    for (let i = 0; i < 400; i += 20) {
      await producer.send({ topic, messages: Array.from({ length: 20 }, (_, j) => ({ key: `k${(i + j) % 2}${padding}`, value: i + j })) });
    }
    await until('broker 3 reports its disk full', () => broker3.counters.storageFailures > 0);
    expect(broker3.storageStatus().some((s) => s.code === 'STORAGE_FULL')).toBe(true);

    // Still serving: clients asking broker 3 get answers, producing goes on through the healthy majority.
    const direct = new Skein({ brokers: [cluster.bootstrap[2]!], clientId: 'ask-broker-3', requestTimeoutMs: 3_000 });
    try {
      const description = await direct.admin().describeCluster();
      expect(description.storage?.brokerId).toBe(3);
      expect(description.storage?.stoppedReplicas.some((s) => s.code === 'STORAGE_FULL')).toBe(true);
    } finally {
      await direct.close();
    }
    await producer.send({ topic, messages: [{ key: 'k0', value: 1000 }, { key: 'k1', value: 1001 }] });
    // Metadata changes while the disk is full stop broker 3's metadata replica too (once the last page
    // of its log has no room left), and the partitions it is given cannot open; the cluster goes on.
    const { bavail: left } = statfsSync(mountPoint);
    if (left > 0) writeFileSync(join(mountPoint, 'ballast-2'), Buffer.alloc(Number(left) * Number(bsize)));
    let created = 0;
    while (!broker3.storageStatus().some((s) => s.replica === 'metadata') && created < 60) {
      // A retry through a controller change may find its first attempt committed.
      await client.admin().createTopic({ name: `later-${created++}`, partitions: 1, replicationFactor: 3 }).catch((error: unknown) => {
        if ((error as { code?: string }).code !== 'TOPIC_EXISTS') throw error;
      });
    }
    expect(broker3.storageStatus().some((s) => s.replica === 'metadata')).toBe(true);
    expect(broker3.storageStatus().some((s) => s.replica === 'later-0/0')).toBe(true);
    rmSync(join(mountPoint, 'ballast-2'), { force: true });

    rmSync(join(mountPoint, 'ballast'));
    await until('broker 3 resumes', () => broker3.storageStatus().length === 0, 30_000);
    const leaders = [...cluster.brokers.values()];
    for (const partition of [0, 1]) {
      await until(`broker 3 catches up on disk/${partition}`, () => {
        const hw = Math.max(...leaders.map((b) => peek(b).partition('disk', partition)?.highWatermark ?? 0));
        return peek(broker3).partition('disk', partition)?.highWatermark === hw && hw > 0;
      });
    }
    // The reopened metadata replica caught up: broker 3 hosts the topic created while it was stopped.
    await until('broker 3 hosts the topics created while its disk was full', () => peek(broker3).partition(`later-${created - 1}`, 0) !== undefined);
    expect(broker3.counters.storageRecoveries).toBeGreaterThanOrEqual(3);
    await producer.close();
  });
});
