/**
 * A consumer group: two workers share a topic's partitions, commit what they
 * handled, stop, and a restarted pair carries on from the committed offsets:
 * nothing handled twice, nothing skipped.
 *
 *   SKEIN_BROKERS=127.0.0.1:9092 npm run example examples/group-consumer.ts -- --count 1000
 */
import { parseArgs } from 'node:util';
import { isSkeinError, Skein, type GroupSubscription } from 'skein';
import { brokers, ordersTopic, type Order } from './orders.js';

const { values } = parseArgs({ options: { count: { type: 'string', default: '1000' }, topic: { type: 'string', default: 'group-orders' }, group: { type: 'string', default: 'example-billing' } } });
const count = Number(values.count);
const orders = ordersTopic(values.topic);
const handled = new Map<number, number>(); // order id → times handled

await using skein = new Skein({ brokers, clientId: 'example-group' });
const admin = skein.admin();
await admin.createTopic({ name: orders.name, partitions: 6, replicationFactor: Math.min(3, brokers.length) }).catch((error: unknown) => {
  if (!isSkeinError(error, 'TOPIC_EXISTS')) throw error;
});

/** One worker: a member of the group, handling the orders of the partitions it owns. */
function worker(name: string): { name: string; sub: GroupSubscription<Order, string>; done: number } {
  const w = {
    name,
    done: 0,
    sub: skein.subscribe({
      group: values.group,
      topic: orders,
      autoCommitIntervalMs: 200,
      handler: (record) => {
        handled.set(record.value.id, (handled.get(record.value.id) ?? 0) + 1);
        w.done++;
      },
    }),
  };
  return w;
}

/** Resolves once `check` holds, looking every 50 ms. */
async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 50));
}

/** Orders with ids from `first`, spread over the partitions by customer. */
async function produce(first: number, n: number): Promise<void> {
  await using producer = skein.producer();
  const messages = Array.from({ length: n }, (_, i) => ({ key: `customer-${(first + i) % 97}`, value: { id: first + i, customer: `customer-${(first + i) % 97}`, amountCents: 100 + i } }));
  await producer.send({ topic: orders, messages });
}

/** Every partition's committed offset is at its end: the group handled and committed everything. */
async function caughtUp(): Promise<boolean> {
  const { partitions } = await admin.describeGroup(values.group);
  return partitions.length > 0 && partitions.every((p) => (p.committed ?? 0) >= p.end);
}

async function run(round: string, first: number, n: number): Promise<void> {
  const workers = [worker('worker-1'), worker('worker-2')];
  // Two members split the six partitions, three each, before any order is written.
  await until(() => workers.every((w) => w.sub.assignment().length === 3));
  for (const w of workers) console.log(`${round}: ${w.name} owns ${orders.name}/${w.sub.assignment().map((p) => p.partition).join(',')}`);
  await produce(first, n);
  await until(caughtUp);
  // Closing commits what each handled and leaves the group; the next members start from there.
  await Promise.all(workers.map((w) => w.sub.close()));
  console.log(`${round}: ${workers.reduce((sum, w) => sum + w.done, 0)} orders handled (${workers.map((w) => `${w.name} ${w.done}`).join(', ')}), committed`);
}

await run('first run', 0, count);
await run('after restart', count, count / 2);
const twice = [...handled.values()].filter((times) => times > 1).length;
console.log(`in all: ${handled.size} orders handled, ${twice} handled twice`);
