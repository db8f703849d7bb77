import { afterEach, describe, expect, it } from 'vitest';
import { Prng } from '../../transport/core/prng.js';
import { SimClock, type SimProcess } from './cluster/clock.js';
import { VirtualNetwork } from './cluster/network.js';

let clock: SimClock | undefined;
afterEach(() => clock?.uninstall());

function installed(livelockEvents?: number): SimClock {
  clock = new SimClock(() => 0.5, livelockEvents);
  clock.install();
  return clock;
}

describe('the whole-cluster simulation clock', () => {
  it('moves only when stepped, firing timers in time order, and fakes every clock the code reads', async () => {
    const c = installed();
    const fired: string[] = [];
    setTimeout(() => fired.push(`b@${performance.now()}`), 20);
    setTimeout(() => fired.push(`a@${performance.now()}`), 10);
    const interval = setInterval(() => fired.push(`i@${Date.now() - SimClock.epochMs}`), 15);
    await c.advance(35);
    clearInterval(interval);
    await c.advance(100);
    expect(fired).toEqual(['a@10', 'i@15', 'b@20', 'i@30']);
    expect(Math.random()).toBe(0.5);
  });

  it('stops a killed process dead: its timers never fire again and nothing is delivered to it', async () => {
    const c = installed();
    const network = new VirtualNetwork(c, new Prng(1));
    const victim: SimProcess = { name: 'victim', dead: false };
    const ticks: number[] = [];
    const received: string[] = [];
    const socket = c.runAs(victim, () => {
      setInterval(() => ticks.push(performance.now()), 10);
      const s = network.createSocket();
      s.bind(5000, '127.0.0.1');
      s.on('message', (bytes: Buffer) => received.push(bytes.toString()));
      return s;
    });
    const sender = network.createSocket();
    sender.bind(0, '127.0.0.1');
    await c.advance(25);
    sender.send(Buffer.from('before'), 5000, '127.0.0.1');
    await c.advance(5);
    victim.dead = true;
    network.releaseProcess(victim);
    sender.send(Buffer.from('after'), 5000, '127.0.0.1');
    await c.advance(50);
    expect(ticks).toEqual([10, 20, 30]);
    expect(received).toEqual(['before']);
    expect(socket.port).toBe(5000);
    expect(network.counters.unreachable).toBe(1);
  });

  it('pauses a process as SIGSTOP does: overdue timers fire once on resume, then its socket queue, which drops past its bound', async () => {
    const c = installed();
    const network = new VirtualNetwork(c, new Prng(1));
    network.conditions = { loss: 0, duplicate: 0, minDelayMs: 1, maxDelayMs: 1 };
    network.receiveBufferBytes = 3 * (VirtualNetwork.datagramOverheadBytes + 1);
    const sleeper: SimProcess = { name: 'sleeper', dead: false };
    const events: string[] = [];
    c.runAs(sleeper, () => {
      setInterval(() => events.push(`tick@${performance.now()}`), 10);
      setTimeout(() => events.push(`once@${performance.now()}`), 25);
      const s = network.createSocket();
      s.bind(5000, '127.0.0.1');
      s.on('message', (bytes: Buffer) => events.push(`got ${bytes.toString()}@${performance.now()}`));
    });
    const sender = network.createSocket();
    sender.bind(0, '127.0.0.1');
    await c.advance(15);
    c.pause(sleeper);
    for (const text of ['a', 'b', 'c', 'd']) sender.send(Buffer.from(text), 5000, '127.0.0.1');
    await c.advance(85);
    expect(events).toEqual(['tick@10']);
    c.resume(sleeper);
    network.resume(sleeper);
    await c.advance(5);
    expect(events).toEqual(['tick@10', 'tick@100', 'once@100', 'got a@100', 'got b@100', 'got c@100']);
    expect(network.counters.overflowed).toBe(1);
    await c.advance(10);
    expect(events.at(-1)).toBe('tick@110');
  });

  it('refresh() restarts a timer with its own delay', async () => {
    const c = installed();
    const fired: number[] = [];
    const timer = setTimeout(() => fired.push(performance.now()), 10);
    await c.advance(6);
    timer.refresh();
    await c.advance(20);
    expect(fired).toEqual([16]);
  });

  it('fails a run whose events stop time (a livelock) at exactly its limit, not before', async () => {
    const c = installed(5);
    // One event that moves time, then n - 1 more at the same instant.
    const chain = (n: number): void => {
      let left = n;
      const next = (): void => {
        if (--left > 0) c.after(0, next);
      };
      c.after(1, next);
    };
    chain(5);
    await c.advance(10);
    chain(6);
    await expect(c.advance(10)).rejects.toThrow(/livelock: 5 events/);
  });

  it('advances time across setImmediate, so polling until a sub-millisecond deadline ends', async () => {
    const c = installed();
    let polls = 0;
    const poll = (): void => {
      polls++;
      if (performance.now() < 0.5) setImmediate(poll);
    };
    setImmediate(poll);
    await c.advance(1);
    expect(polls).toBe(Math.ceil(0.5 / SimClock.loopTurnMs));
  });

  it('settles a promise by running the clock, and fails one that nothing will ever settle', async () => {
    const c = installed();
    await expect(c.settle(new Promise((resolve) => setTimeout(() => resolve('done'), 5_000)), 10_000, 'slow')).resolves.toBe('done');
    expect(c.nowMs).toBe(5_000);
    await expect(c.settle(new Promise(() => {}), 1_000, 'stuck')).rejects.toThrow(/stuck: not done after 1000 ms/);
  });
});
