import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Skein } from '../../sdk/index.js';
import { InProcessCluster } from './support/cluster.js';
import { manyItemsMax, NormalProducer, sendHugeFrames } from './support/hostile-clients.js';

/**
 * Issue 11, item 1: one 16 MiB RPC frame of millions of one-byte items
 * (empty byte strings or maps) used to decode into ~1.8 GB and stall the
 * broker for seconds. The frame is refused before it is decoded; the broker's
 * memory stays where it was and a normal client keeps being served.
 */
let cluster: InProcessCluster;
let normal: NormalProducer;

const heapMiB = (): number => {
  const usage = process.memoryUsage();
  return (usage.heapUsed + usage.arrayBuffers) / (1024 * 1024);
};

beforeAll(async () => {
  cluster = new InProcessCluster(1);
  await cluster.start();
  const admin = new Skein({ brokers: cluster.bootstrap, clientId: 'admin' });
  await admin.admin().createTopic({ name: 'normal', partitions: 1, replicationFactor: 1 });
  await admin.close();
  normal = new NormalProducer(cluster.bootstrap, 'normal', 20);
  normal.start();
}, 60_000);

afterAll(async () => {
  await normal?.stop();
  await cluster?.close();
});

describe('a frame of millions of one-byte items', () => {
  it('is refused before decoding: memory stays put and a normal producer keeps being served', async () => {
    const target = { host: '127.0.0.1', port: cluster.ports[0]! };
    await new Promise((resolve) => setTimeout(resolve, 500));
    normal.mark();
    const before = heapMiB();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, heapMiB())), 5);
    try {
      for (const kind of ['bytes', 'maps'] as const) {
        await sendHugeFrames(target, { frames: 1, items: manyItemsMax(), kind });
        await new Promise((resolve) => setTimeout(resolve, 200));
        peak = Math.max(peak, heapMiB());
      }
    } finally {
      clearInterval(sampler);
    }
    // Each frame is 16 MiB on the wire; sender, receiver and their copies hold a few of those at once, never a GB.
    expect(peak - before).toBeLessThan(256);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const figures = normal.figures();
    expect(figures.failed).toBe(0);
    expect(figures.sent).toBeGreaterThan(10);
  }, 60_000);
});
