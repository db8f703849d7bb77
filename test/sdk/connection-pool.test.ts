import { describe, expect, it } from 'vitest';
import { ConnectionPool } from '../../sdk/broker-connection.js';
import { SkeinError } from '../../transport/errors.js';
import { FakeCluster } from './support/harness.js';

function poolOn(cluster: FakeCluster, refuse: () => boolean = () => false): ConnectionPool {
  const dial: typeof cluster.dial = (address) =>
    refuse() ? Promise.reject(new SkeinError('CONNECTION_REFUSED', { message: 'no answer' })) : cluster.dial(address);
  return new ConnectionPool({ dial, clientId: 'test', requestTimeoutMs: 2_000, connectTimeoutMs: 2_000 });
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
