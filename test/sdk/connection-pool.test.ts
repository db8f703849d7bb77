import { describe, expect, it } from 'vitest';
import { ConnectionPool } from '../../sdk/broker-connection.js';
import { SkeinError } from '../../transport/errors.js';
import { sdkLimits } from '../../transport/limits.js';
import { methods } from '../../transport/protocol/messages.js';
import { FakeCluster } from './support/harness.js';

function poolOn(cluster: FakeCluster, refuse: () => boolean = () => false, clock?: { nowMs: () => number }): ConnectionPool {
  const dial: typeof cluster.dial = (address) =>
    refuse() ? Promise.reject(new SkeinError('CONNECTION_REFUSED', { message: 'no answer' })) : cluster.dial(address);
  return new ConnectionPool({ dial, clientId: 'test', requestTimeoutMs: 2_000, connectTimeoutMs: 2_000, ...(clock === undefined ? {} : { clock }) });
}

const silent = new SkeinError('CONNECTION_CLOSED', { message: 'the old connection went silent', details: { outcome: 'unknown' } });

describe('the connection pool', () => {
  it('replaces a connection once however many callers ask at the same time, and forgets the replacement when it dies', async () => {
    const cluster = new FakeCluster();
    const pool = poolOn(cluster);
    try {
      const address = cluster.address(1);
      const old = await pool.get(address);
      // Every partition led by a broker probes it: several replacements of one connection start together.
      const replaced = await Promise.all([pool.replace(old, silent, 1_000), pool.replace(old, silent, 1_000), pool.replace(old, silent, 1_000)]);
      expect(replaced).toEqual([true, true, true]);
      expect(cluster.dials).toBe(2);
      expect(old.isOpen).toBe(false);
      const fresh = await pool.get(address);
      expect(fresh).not.toBe(old);
      expect(pool.openConnections()).toEqual([fresh]);
      // The replacement dies in its turn (the broker restarts again): the next caller must get a new dial, not the corpse.
      await fresh.abandon(new SkeinError('PEER_DEAD', { message: 'nothing heard from the peer' }));
      const next = await pool.get(address);
      expect(next.isOpen).toBe(true);
      expect(cluster.dials).toBe(3);
    } finally {
      await pool.close();
    }
  });

  it('keeps the old connection when the fresh dial fails (a paused or unreachable broker)', async () => {
    const cluster = new FakeCluster();
    let unreachable = false;
    const pool = poolOn(cluster, () => unreachable);
    try {
      const address = cluster.address(2);
      const old = await pool.get(address);
      unreachable = true;
      expect(await Promise.all([pool.replace(old, silent, 1_000), pool.replace(old, silent, 1_000)])).toEqual([false, false]);
      expect(old.isOpen).toBe(true);
      expect(await pool.get(address)).toBe(old);
    } finally {
      await pool.close();
    }
  });
});

describe('decommissioned brokers (BROKER_REMOVED)', () => {
  const removed = new SkeinError('BROKER_REMOVED', { message: 'this broker was decommissioned' });

  it('a broker refusing hello is not dialled again until removedBrokerForgetMs has passed', async () => {
    let nowMs = 1_000;
    const cluster = new FakeCluster();
    cluster.interceptor = ({ brokerId, method }) => (brokerId === 1 && method === methods.hello ? { fail: removed } : undefined);
    const pool = poolOn(cluster, undefined, { nowMs: () => nowMs });
    try {
      const address = cluster.address(1);
      await expect(pool.get(address)).rejects.toMatchObject({ code: 'BROKER_REMOVED' });
      await expect(pool.get(address)).rejects.toMatchObject({ code: 'BROKER_REMOVED' });
      expect(cluster.dials).toBe(1);
      expect(pool.isRemoved(address)).toBe(true);
      nowMs += sdkLimits.removedBrokerForgetMs - 1;
      expect(pool.isRemoved(address)).toBe(true);
      nowMs += 1;
      expect(pool.isRemoved(address)).toBe(false);
      await expect(pool.get(address)).rejects.toMatchObject({ code: 'BROKER_REMOVED' });
      expect(cluster.dials).toBe(2);
    } finally {
      await pool.close();
    }
  });

  it('an open connection whose broker answers BROKER_REMOVED is closed and its address set aside', async () => {
    const cluster = new FakeCluster();
    const pool = poolOn(cluster);
    try {
      const address = cluster.address(2);
      const connection = await pool.get(address);
      cluster.interceptor = ({ brokerId }) => (brokerId === 2 ? { fail: removed } : undefined);
      await expect(connection.request(methods.metadata, {})).rejects.toMatchObject({ code: 'BROKER_REMOVED' });
      expect(connection.isOpen).toBe(false);
      expect(pool.isRemoved(address)).toBe(true);
      await expect(pool.get(address)).rejects.toMatchObject({ code: 'BROKER_REMOVED' });
      expect(cluster.dials).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it(`remembers at most removedBrokersMax (${sdkLimits.removedBrokersMax}) addresses, forgetting the oldest first`, async () => {
    const cluster = new FakeCluster({ brokers: sdkLimits.removedBrokersMax + 1 });
    cluster.interceptor = ({ method }) => (method === methods.hello ? { fail: removed } : undefined);
    const pool = poolOn(cluster);
    const ids = Array.from({ length: sdkLimits.removedBrokersMax + 1 }, (_, i) => i + 1);
    try {
      for (const id of ids.slice(0, -1)) await expect(pool.get(cluster.address(id))).rejects.toMatchObject({ code: 'BROKER_REMOVED' });
      expect(ids.slice(0, -1).every((id) => pool.isRemoved(cluster.address(id)))).toBe(true);
      await expect(pool.get(cluster.address(ids.at(-1)!))).rejects.toMatchObject({ code: 'BROKER_REMOVED' });
      expect(pool.isRemoved(cluster.address(1))).toBe(false);
      expect(ids.slice(1).every((id) => pool.isRemoved(cluster.address(id)))).toBe(true);
    } finally {
      await pool.close();
    }
  });
});
