import { describe, expect, it } from 'vitest';
import { defineTopic, serdes, SkeinError, type GroupConsumer, type GroupStatus, type Skein } from '../../sdk/index.js';
import { clusterForTest } from '../broker/support/cluster.js';

async function produce(client: Skein, topic: string, count: number, partitions: number, base = 0): Promise<void> {
  const producer = client.producer({ lingerMs: 2 });
  await producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ value: base + i, partition: (base + i) % partitions })) });
  await producer.close();
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Fetches from every consumer in turn, recording who read what, until `done`. */
async function consumeAll(consumers: GroupConsumer<number>[], seen: Map<number, string[]>, done: () => boolean): Promise<void> {
  await until('every record consumed', async () => {
    for (const [i, consumer] of consumers.entries()) {
      for (const record of await consumer.fetch({ waitMsMax: 50 })) seen.set(record.value, [...(seen.get(record.value) ?? []), `c${i}`]);
    }
    return done();
  }, 30_000);
}

describe('consumer groups through the SDK', () => {
  it('says when it has read each of its partitions to its end (caughtUp), which an empty fetch alone does not', async () => {
    const { client } = await clusterForTest(3);
    await client.admin().createTopic({ name: 'ends', partitions: 2, replicationFactor: 3 });
    await produce(client, 'ends', 20, 2);
    await using consumer = client.consumer<number>({ group: 'enders', topic: 'ends', from: 'earliest' });
    // Nothing owned, nothing read: not caught up, although the fetch was empty.
    expect(await consumer.fetch({ waitMsMax: 0 })).toEqual([]);
    expect(consumer.caughtUp()).toBe(false);
    const values: number[] = [];
    await until('every record and then an empty read', async () => {
      const records = await consumer.fetch({ waitMsMax: 100 });
      values.push(...records.map((r) => r.value));
      return records.length === 0 && consumer.caughtUp();
    });
    expect(values.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await produce(client, 'ends', 2, 2, 20);
    await until('the new records seen', async () => (await consumer.fetch({ waitMsMax: 100 })).length > 0 || !consumer.caughtUp());
    expect(consumer.caughtUp()).toBe(false);
  });

  it('members split the partitions, a member that leaves hands its partitions over, and a new member resumes at the committed offsets', async () => {
    const { client } = await clusterForTest(3);
    await client.admin().createTopic({ name: 'work', partitions: 6, replicationFactor: 3 });
    await produce(client, 'work', 300, 6);
    const events: GroupStatus[] = [];
    const consumers = [0, 1, 2].map(() => client.consumer<number>({ group: 'workers', topic: 'work', autoCommitIntervalMs: 100 }));
    void (async () => {
      for await (const event of consumers[0]!.status()) events.push(event);
    })();
    await until('a balanced assignment', () => consumers.every((c) => c.assignment().length === 2), 30_000);
    const all = new Set(consumers.flatMap((c) => c.assignment().map((p) => `${p.topic}/${p.partition}`)));
    expect(all.size).toBe(6);
    const seen = new Map<number, string[]>();
    await consumeAll(consumers, seen, () => seen.size === 300);
    // Each partition had one owner: nothing was read twice.
    expect([...seen.values()].every((who) => who.length === 1)).toBe(true);
    expect(events.some((e) => e.type === 'joined')).toBe(true);
    expect(events.some((e) => e.type === 'assigned')).toBe(true);

    // The finished records are committed (the next fetch finishes those of the last one), then the first member leaves.
    for (const c of consumers) await c.fetch({ waitMsMax: 0 });
    for (const c of consumers) await c.commit();
    await consumers[0]!.close();
    await until('the two others take over', () => consumers.slice(1).reduce((n, c) => n + c.assignment().length, 0) === 6, 30_000);
    await produce(client, 'work', 60, 6, 300);
    await consumeAll(consumers.slice(1), seen, () => seen.size === 360);
    expect([...seen.values()].every((who) => who.length === 1)).toBe(true);
    for (const c of consumers.slice(1)) await c.fetch({ waitMsMax: 0 });
    await Promise.all(consumers.slice(1).map((c) => c.close()));

    // A new member of the group starts where the group stopped: nothing again, nothing skipped.
    await produce(client, 'work', 12, 6, 360);
    const fresh = client.consumer<number>({ group: 'workers', topic: 'work' });
    const later: number[] = [];
    await until('the new records', async () => {
      for (const r of await fresh.fetch({ waitMsMax: 100 })) later.push(r.value);
      return later.length >= 12;
    });
    expect(later.sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => 360 + i));
    expect(events.some((e) => e.type === 'revoked')).toBe(true);
    await fresh.close();
  }, 90_000);

  it('a member that stops heartbeating is expired after its session, and its partitions resume at the committed offset', async () => {
    const { client } = await clusterForTest(3);
    await client.admin().createTopic({ name: 'jobs', partitions: 2, replicationFactor: 3 });
    await produce(client, 'jobs', 40, 2);
    const a = client.consumer<number>({ group: 'crashy', topic: 'jobs', sessionTimeoutMs: 1_500, autoCommit: false });
    const got: number[] = [];
    await until('a holds both partitions', () => a.assignment().length === 2);
    await until('a read records', async () => {
      for (const r of await a.fetch({ recordsMax: 10, waitMsMax: 100 })) got.push(r.value);
      return got.length >= 10;
    });
    const handed = new Set(got);
    await a.fetch({ waitMsMax: 0 });
    await a.commit();
    // The process "crashes": its heartbeats stop, nothing more is committed or sent.
    (a as unknown as { membership: { stop(): void } }).membership.stop();
    const b = client.consumer<number>({ group: 'crashy', topic: 'jobs', sessionTimeoutMs: 1_500 });
    await until('b takes both partitions after a expired', () => b.assignment().length === 2, 15_000);
    const rest: number[] = [];
    await until('b read the rest', async () => {
      for (const r of await b.fetch({ waitMsMax: 100 })) rest.push(r.value);
      return new Set([...handed, ...rest]).size === 40;
    });
    // b starts exactly where a's commit left each partition: nothing a finished comes again, nothing is skipped.
    const complement = Array.from({ length: 40 }, (_, i) => i).filter((v) => !handed.has(v));
    expect(rest.sort((x, y) => x - y)).toEqual(complement);
    await b.close();
    await a.close();
  }, 60_000);

  it('a push handler is retried with backoff, then its record is dead-lettered with headers naming its origin', async () => {
    const { client } = await clusterForTest(3);
    const admin = client.admin();
    await admin.createTopic({ name: 'payments', partitions: 1, replicationFactor: 3 });
    await admin.createTopic({ name: 'payments.dlq', partitions: 1, replicationFactor: 3 });
    await produce(client, 'payments', 5, 1);
    const handled: number[] = [];
    const attempts = new Map<number, number>();
    const sub = client.subscribe<number>({
      group: 'payers',
      topic: 'payments',
      retry: { attemptsMax: 3, backoffMs: { min: 10, max: 20 } },
      deadLetterTopic: 'payments.dlq',
      handler: (record) => {
        attempts.set(record.value, (attempts.get(record.value) ?? 0) + 1);
        if (record.value === 2) throw new SkeinError('INVALID_ARGUMENT', { message: 'poison' });
        handled.push(record.value);
      },
    });
    const events: GroupStatus[] = [];
    void (async () => {
      for await (const event of sub.status()) events.push(event);
    })();
    await until('every record handled or dead-lettered', () => handled.length === 4 && events.some((e) => e.type === 'deadLettered'));
    expect(handled).toEqual([0, 1, 3, 4]);
    expect(attempts.get(2)).toBe(3);
    expect(events.filter((e) => e.type === 'handlerError')).toHaveLength(3);
    const dlq = client.consumer({ topic: 'payments.dlq' });
    const [letter] = await dlq.fetch({ waitMsMax: 5_000 });
    const headers = Object.fromEntries(letter!.headers.map((h) => [h.key, Buffer.from(h.value).toString()]));
    expect(letter!.value).toBe(2);
    expect(headers).toMatchObject({ 'skein.dlq.topic': 'payments', 'skein.dlq.partition': '0', 'skein.dlq.offset': '2', 'skein.dlq.group': 'payers', 'skein.dlq.attempts': '3', 'skein.dlq.error.code': 'INVALID_ARGUMENT', 'skein.dlq.error.message': 'poison' });
    await dlq.close();
    // The dead-lettered record counts as finished: the group's committed offset is past it.
    await until('the commit of all five', async () => (await admin.describeGroup('payers')).partitions[0]!.committed === 5);
    // The description counts it, from the member's heartbeats.
    await until('the dead letter counted', async () => (await admin.describeGroup('payers')).partitions[0]!.deadLettered === 1);
    expect((await admin.describeGroup('payers')).partitions[0]!.skipped).toBe(0);
    await sub.close();
  }, 60_000);

  it('inFlightMax runs handlers of one partition side by side, started in offset order, and commits only below the lowest record still running', async () => {
    const { client } = await clusterForTest(3);
    const admin = client.admin();
    await admin.createTopic({ name: 'wide', partitions: 1, replicationFactor: 3 });
    await produce(client, 'wide', 12, 1);
    const started: number[] = [];
    const finished: number[] = [];
    let running = 0;
    let mostRunning = 0;
    let releaseSlow!: () => void;
    const slow = new Promise<void>((resolve) => (releaseSlow = resolve));
    const sub = client.subscribe<number>({
      group: 'wide-group',
      topic: 'wide',
      inFlightMax: 4,
      autoCommitIntervalMs: 50,
      handler: async (record) => {
        started.push(record.value);
        mostRunning = Math.max(mostRunning, ++running);
        // Record 2 runs until released; the others take a moment each.
        await (record.value === 2 ? slow : new Promise((r) => setTimeout(r, 5)));
        running--;
        finished.push(record.value);
      },
    });
    const committed = async (): Promise<number | null> => (await admin.describeGroup('wide-group').catch(() => null))?.partitions[0]?.committed ?? null;
    await until('every record but the slow one finished', () => finished.length === 11);
    // Records after the slow one went on; the commit stays at it (a crash now would redeliver it, never skip it).
    await until('a commit', async () => (await committed()) !== null);
    await new Promise((r) => setTimeout(r, 200));
    expect(await committed()).toBe(2);
    expect(started).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(mostRunning).toBe(4);
    releaseSlow();
    await until('the commit past everything', async () => (await committed()) === 12);
    await sub.close();
  }, 60_000);

  it('a record that does not deserialize goes straight to the dead-letter topic as it was stored (no handler attempt), or is reported and skipped without one', async () => {
    const { client } = await clusterForTest(3);
    const admin = client.admin();
    await admin.createTopic({ name: 'raw', partitions: 1, replicationFactor: 3 });
    await admin.createTopic({ name: 'raw.dlq', partitions: 1, replicationFactor: 3 });
    const producer = client.producer({ lingerMs: 2 });
    await producer.send({ topic: defineTopic('raw', { value: serdes.string(), key: serdes.string() }), messages: ['a', 'b', 'poison', 'c'].map((value) => ({ key: `k-${value}`, value, headers: { origin: 'test' } })) });
    await producer.close();
    // Strings, except one the application's serde refuses.
    const picky = defineTopic<string, string>('raw', {
      key: serdes.string(),
      value: { serialize: (v) => Buffer.from(v), deserialize: (bytes) => (Buffer.from(bytes).toString() === 'poison' ? (() => { throw new Error('not a string we know'); })() : Buffer.from(bytes).toString()) },
    });
    const run = async (group: string, deadLetterTopic?: string): Promise<{ handled: string[]; events: GroupStatus[] }> => {
      const handled: string[] = [];
      const events: GroupStatus[] = [];
      const sub = client.subscribe({ group, topic: picky, ...(deadLetterTopic === undefined ? {} : { deadLetterTopic }), handler: (record) => void handled.push(record.value) });
      void (async () => {
        for await (const event of sub.status()) events.push(event);
      })();
      await until('every record handled, and the commit past them all', async () => handled.length === 3 && (await admin.describeGroup(group)).partitions[0]!.committed === 4);
      await sub.close();
      return { handled, events };
    };

    const lettered = await run('decoders', 'raw.dlq');
    expect(lettered.handled).toEqual(['a', 'b', 'c']);
    expect(lettered.events.filter((e) => e.type === 'handlerError')).toEqual([expect.objectContaining({ offset: 2, attempt: 0, error: expect.objectContaining({ code: 'DESERIALIZATION_FAILED' }) })]);
    expect(lettered.events.filter((e) => e.type === 'deadLettered')).toEqual([{ type: 'deadLettered', topic: 'raw', partition: 0, offset: 2, deadLetterTopic: 'raw.dlq', attempts: 0 }]);
    expect(lettered.events.some((e) => e.type === 'skipped')).toBe(false);
    const dlq = client.consumer({ topic: defineTopic('raw.dlq', { value: serdes.string(), key: serdes.string() }) });
    const [letter] = await dlq.fetch({ waitMsMax: 5_000 });
    await dlq.close();
    const headers = Object.fromEntries(letter!.headers.map((h) => [h.key, Buffer.from(h.value).toString()]));
    expect([letter!.key, letter!.value]).toEqual(['k-poison', 'poison']);
    expect(headers).toMatchObject({ origin: 'test', 'skein.dlq.topic': 'raw', 'skein.dlq.partition': '0', 'skein.dlq.offset': '2', 'skein.dlq.group': 'decoders', 'skein.dlq.attempts': '0', 'skein.dlq.error.code': 'DESERIALIZATION_FAILED' });
    expect(headers['skein.dlq.error.message']).toContain('not a string we know');
    expect((await admin.describeGroup('decoders')).partitions[0]).toMatchObject({ deadLettered: 1, skipped: 0 });

    const skipped = await run('skippers');
    expect(skipped.handled).toEqual(['a', 'b', 'c']);
    expect(skipped.events.filter((e) => e.type === 'skipped')).toEqual([{ type: 'skipped', topic: 'raw', partition: 0, reason: 'handler', from: 2, to: 3 }]);
    expect((await admin.describeGroup('skippers')).partitions[0]).toMatchObject({ deadLettered: 0, skipped: 1 });
  }, 60_000);

  it('a group consumer or subscription naming a topic that does not exist fails at once with UNKNOWN_TOPIC, and joins nothing', async () => {
    const { client } = await clusterForTest(1);
    const admin = client.admin();
    await admin.createTopic({ name: 'real', partitions: 1, replicationFactor: 1 });

    const pull = client.consumer({ group: 'ghosts', topics: ['real', 'nowhere'] });
    const events: GroupStatus[] = [];
    for await (const event of pull.status()) events.push(event);
    expect(events.map((e) => e.type)).toEqual(['failed', 'closed']);
    expect(events[0]).toMatchObject({ error: { code: 'UNKNOWN_TOPIC', details: { topic: 'nowhere' } } });
    await expect(pull.closed).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC' });
    await expect((async () => {
      for await (const _ of pull) break;
    })()).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC' });
    await expect(pull.commit()).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC' });

    // The dead-letter topic too: a poison record must not be the first to find it missing.
    const push = client.subscribe({ group: 'ghosts', topic: 'real', deadLetterTopic: 'real.dlq', handler: () => {} });
    await expect(push.closed).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC', details: { topic: 'real.dlq' } });

    // Neither joined: the group was never made.
    await expect(admin.describeGroup('ghosts')).rejects.toMatchObject({ code: 'UNKNOWN_GROUP' });
  }, 30_000);

  it('describeGroup shows each member\'s progress, flags a member stuck on a record as stalled until it moves, and counts skipped records', async () => {
    const { client } = await clusterForTest(1);
    const admin = client.admin();
    await admin.createTopic({ name: 'slow', partitions: 1, replicationFactor: 1 });
    await produce(client, 'slow', 4, 1);
    let release!: () => void;
    const stuck = new Promise<void>((resolve) => (release = resolve));
    const sub = client.subscribe<number>({ group: 'sloths', topic: 'slow', handler: async (record) => { if (record.value === 1) await stuck; } });
    // Until the member's first heartbeat lands, the group does not exist yet.
    const describe = () => admin.describeGroup('sloths', { stalledAfterMs: 300 }).catch((error: unknown) => {
      if ((error as { code?: string }).code === 'UNKNOWN_GROUP') return { members: [] };
      throw error;
    });
    await until('the member stalled on offset 1', async () => (await describe()).members[0]?.stalled === true);
    const [member] = (await describe()).members;
    expect(member!.progress).toEqual([expect.objectContaining({ topic: 'slow', partition: 0, fetched: 4, finished: 1, end: 4, lag: 3, stalled: true, deadLettered: 0, skipped: 0 })]);
    expect(member!.progress[0]!.idleMs).toBeGreaterThanOrEqual(300);
    release();
    await until('the member caught up and no longer stalled', async () => {
      const [m] = (await describe()).members;
      return m?.stalled === false && m.progress[0]?.lag === 0;
    });
    await sub.close();

    // A handler out of attempts with no dead-letter topic: the record is skipped, and counted.
    const skipping = client.subscribe<number>({ group: 'skippers', topic: 'slow', retry: { attemptsMax: 1 }, handler: (record) => { if (record.value === 2) throw new Error('no'); } });
    await until('the skip counted', async () => (await admin.describeGroup('skippers').catch(() => null))?.partitions[0]?.skipped === 1);
    await skipping.close();
    await expect(admin.describeGroup('sloths', { stalledAfterMs: -1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  }, 30_000);

  it('admin: lists and describes groups with lag, refuses resets of a live group, resets and deletes an empty one', async () => {
    const { client } = await clusterForTest(3);
    const admin = client.admin();
    expect(await admin.listGroups()).toEqual([]);
    await admin.createTopic({ name: 'audit', partitions: 2, replicationFactor: 3 });
    await produce(client, 'audit', 20, 2);
    const consumer = client.consumer<number>({ group: 'auditors', topic: 'audit', autoCommit: false });
    await until('an assignment', () => consumer.assignment().length === 2);
    let read = 0;
    await until('six records', async () => {
      read += (await consumer.fetch({ recordsMax: 6 - read, waitMsMax: 100 })).length;
      return read === 6;
    });
    await consumer.fetch({ waitMsMax: 0, recordsMax: 1 }).then((extra) => expect(extra.length).toBeLessThanOrEqual(1));
    await consumer.commit();
    const described = await admin.describeGroup('auditors');
    expect(described.state).toBe('stable');
    expect(described.members).toHaveLength(1);
    const committed = described.partitions.reduce((n, p) => n + (p.committed ?? 0), 0);
    expect(committed).toBe(6);
    expect(described.partitions.every((p) => p.end === 10 && p.lag === (p.committed === null ? null : p.end - p.committed) && p.state === 'owned')).toBe(true);
    expect(await admin.listGroups()).toEqual([{ group: 'auditors', state: 'stable', members: 1 }]);

    await expect(admin.resetOffsets('auditors', { topic: 'audit', to: 'earliest' })).rejects.toMatchObject({ code: 'GROUP_NOT_EMPTY' });
    await expect(admin.deleteGroup('auditors')).rejects.toMatchObject({ code: 'GROUP_NOT_EMPTY' });
    await consumer.close();
    await admin.resetOffsets('auditors', { topic: 'audit', to: 'latest' });
    expect((await admin.describeGroup('auditors')).partitions.map((p) => p.lag)).toEqual([0, 0]);
    await admin.resetOffsets('auditors', { topic: 'audit', partition: 1, to: { offset: 3 } });
    expect((await admin.describeGroup('auditors')).partitions.map((p) => p.committed)).toEqual([10, 3]);
    await expect(admin.resetOffsets('auditors', { topic: 'audit', to: { offset: 11 } })).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
    await admin.deleteGroup('auditors');
    await expect(admin.describeGroup('auditors')).rejects.toMatchObject({ code: 'UNKNOWN_GROUP' });
    expect(await admin.listGroups()).toEqual([]);
  }, 60_000);
});
