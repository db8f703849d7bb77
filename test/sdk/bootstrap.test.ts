import { createSocket, type Socket } from 'node:dgram';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Skein, type SkeinError, type SubscriptionStatus } from '../../sdk/index.js';
import { SkeinError as SkeinErrorClass } from '../../transport/errors.js';
import { sdkLimits } from '../../transport/limits.js';
import { freePorts, InProcessCluster } from '../broker/support/cluster.js';
import { FakeCluster, fakeClient } from './support/harness.js';

/** A UDP port on loopback where something is bound but nothing ever answers (a firewall that drops, a hung host). */
async function silentAddress(): Promise<string> {
  const socket: Socket = createSocket('udp4');
  socket.on('message', () => {});
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return `127.0.0.1:${socket.address().port}`;
}

interface Tried {
  address: string;
  code: string;
  message: string;
}

function tried(error: unknown): Tried[] {
  expect(error).toBeInstanceOf(SkeinErrorClass);
  expect((error as SkeinError).code).toBe('NO_BROKERS_REACHABLE');
  return (error as SkeinError).details!.brokers as Tried[];
}

describe('a client that reaches no bootstrap broker', () => {
  it('fails its first requests with NO_BROKERS_REACHABLE naming every address and what happened to it: admin, produce, fetch and subscribe alike', async () => {
    const [closed] = await freePorts(1);
    const silent = await silentAddress();
    const addresses = [`127.0.0.1:${closed}`, silent];
    await using skein = new Skein({ brokers: addresses, clientId: 'nobody-home' });
    const statuses: SubscriptionStatus[] = [];
    const subscription = skein.subscribe({ topic: 'orders', partition: 0, handler: () => {} });
    const failed = (async () => {
      for await (const status of subscription.status()) {
        statuses.push(status);
        if (status.type === 'failed') return status.error;
      }
      return null;
    })();
    const errors = await Promise.all([
      skein.admin().listTopics().catch((e: unknown) => e),
      skein.producer().send({ topic: 'orders', messages: [{ value: 1 }] }).catch((e: unknown) => e),
      skein.consumer({ topic: 'orders' }).fetch().catch((e: unknown) => e),
      failed,
    ]);
    for (const error of errors) {
      const each = tried(error);
      expect(each.map((t) => t.address)).toEqual(addresses);
      // The second address is dialled a quarter second after the first, both until the window ends.
      for (const t of each) expect(t).toMatchObject({ code: 'TIMEOUT', message: expect.stringMatching(/^no answer within \d+ ms$/) });
      expect((error as SkeinError).message).toMatch(new RegExp(`: 127\\.0\\.0\\.1:${closed} \\(no answer within \\d+ ms\\), ${silent} \\(no answer within \\d+ ms\\)\\.`));
      expect((error as SkeinError).retriable).toBe(false);
    }
    await subscription.close();
  }, 30_000);

  it('says what happened at each address: a name that does not resolve, a refusal, no answer; a burst of requests shares one contact', async () => {
    const cluster = new FakeCluster({ brokers: 3 });
    cluster.kill(1);
    const silentPort = cluster.bootstrap()[1]!.split(':')[1];
    const dials = new Map<string, number>();
    const dial = async (address: { host: string; port: number }, options: { signal: AbortSignal }): Promise<never> => {
      dials.set(`${address.host}:${address.port}`, (dials.get(`${address.host}:${address.port}`) ?? 0) + 1);
      if (address.host === 'no-such-host.invalid') throw new SkeinErrorClass('CONNECTION_REFUSED', { message: 'cannot resolve no-such-host.invalid: getaddrinfo ENOTFOUND' });
      if (String(address.port) === silentPort) return new Promise<never>((_, reject) => options.signal.addEventListener('abort', () => reject(options.signal.reason), { once: true }));
      return cluster.dial(address) as Promise<never>;
    };
    const brokers = ['no-such-host.invalid:9092', cluster.bootstrap()[0]!, cluster.bootstrap()[1]!];
    await using skein = new Skein({ brokers, clientId: 'test', bootstrapTimeoutMs: 200 }, { dial });
    const producer = skein.producer();
    const [error, ...others] = await Promise.all([
      skein.admin().listTopics().catch((e: unknown) => e),
      skein.consumer({ topic: 't' }).fetch().catch((e: unknown) => e),
      // Sends enter the producer one after another: those made before the contact failed share its answer, not a window each.
      ...Array.from({ length: 20 }, (_, i) => producer.send({ topic: 't', messages: [{ value: i }] }).catch((e: unknown) => e)),
    ]);
    // One dial per address for all of them: a request made while the contact ran does not start another.
    expect([...dials.values()]).toEqual([1, 1, 1]);
    for (const other of others) expect(tried(other)).toEqual(tried(error));
    expect(tried(error)).toEqual([
      { address: 'no-such-host.invalid:9092', code: 'CONNECTION_REFUSED', message: 'cannot resolve no-such-host.invalid: getaddrinfo ENOTFOUND' },
      { address: cluster.bootstrap()[0], code: 'CONNECTION_REFUSED', message: expect.stringMatching(/no fake broker/) },
      { address: cluster.bootstrap()[1], code: 'TIMEOUT', message: expect.stringMatching(/^no answer within (200|1\d\d) ms$/) },
    ]);
    expect((error as SkeinError).details).toMatchObject({ timeoutMs: 200 });
    expect((error as SkeinError).message).toMatch(/^none of the 3 bootstrap brokers answered: no-such-host\.invalid:9092 \(CONNECTION_REFUSED: cannot resolve/);
  });

  it(`names up to ${sdkLimits.bootstrapAddressesNamedMax} addresses in its message and every one in its details`, async () => {
    const cluster = new FakeCluster({ brokers: 1 });
    for (const count of [sdkLimits.bootstrapAddressesNamedMax, sdkLimits.bootstrapAddressesNamedMax + 1]) {
      const brokers = Array.from({ length: count }, (_, i) => `127.0.0.1:${i + 1}`);
      await using skein = new Skein({ brokers, clientId: 'test' }, { dial: cluster.dial });
      const error = (await skein.admin().listTopics().catch((e: unknown) => e)) as SkeinError;
      expect(tried(error).map((t) => t.address)).toEqual(brokers);
      expect(error.message.match(/CONNECTION_REFUSED/g)).toHaveLength(sdkLimits.bootstrapAddressesNamedMax);
      expect(error.message.includes(' and 1 more.')).toBe(count > sdkLimits.bootstrapAddressesNamedMax);
    }
  });

  it('tries again on the next request, and works once a broker answers', async () => {
    const cluster = new FakeCluster({ brokers: 1 });
    cluster.createTopic('t', { partitions: 1 });
    cluster.kill(1);
    await using skein = fakeClient(cluster, { bootstrapTimeoutMs: 100 });
    await expect(skein.admin().listTopics()).rejects.toMatchObject({ code: 'NO_BROKERS_REACHABLE' });
    cluster.revive(1);
    expect(await skein.admin().listTopics()).toEqual(['t']);
  });

  it('once in touch with the cluster, a cluster gone away is waited for as before (retries until the delivery deadline), not reported unreachable', async () => {
    const cluster = new FakeCluster({ brokers: 3 });
    cluster.createTopic('t', { partitions: 1 });
    await using skein = fakeClient(cluster, { bootstrapTimeoutMs: 100 });
    await using producer = skein.producer({ lingerMs: 0 });
    await producer.send({ topic: 't', messages: [{ value: 1 }] });
    for (const id of [1, 2, 3]) cluster.kill(id);
    // Sent while no broker answers: it waits through the outage.
    const waiting = producer.send({ topic: 't', messages: [{ value: 3 }] });
    const impatient = skein.producer({ lingerMs: 0, deliveryTimeoutMs: 1_000 });
    const error = await impatient.send({ topic: 't', messages: [{ value: 2 }] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TIMEOUT', cause: { code: 'CONNECTION_REFUSED' } });
    for (const id of [1, 2, 3]) cluster.revive(id);
    expect(await waiting).toMatchObject([{ offset: 1 }]);
  });

  it('a cluster that is reachable but has no leader yet gets the patient retries: the request succeeds once it is elected', async () => {
    const cluster = new InProcessCluster(3);
    onTestFinished(() => cluster.close());
    cluster.ports = await freePorts(3);
    // One broker of three: it answers, but no quorum means no controller and no leader.
    await cluster.startBroker(1);
    await using skein = new Skein({ brokers: cluster.bootstrap, clientId: 'patient', bootstrapTimeoutMs: 200 });
    const creating = skein.admin().createTopic({ name: 'later', partitions: 1, replicationFactor: 3 });
    // Longer than the first-contact window: the request is past it, waiting for an election, when the quorum arrives.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await cluster.startBroker(2);
    await cluster.startBroker(3);
    await creating;
    expect(await skein.admin().listTopics()).toContain('later');
  }, 60_000);
});
