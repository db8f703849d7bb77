/**
 * A batching, idempotent producer: records are grouped per partition
 * (lingerMs, batchBytesMax), several batches travel at once (inFlightMax),
 * and each send resolves with where its records landed once a majority of
 * replicas holds them (acks: 'all').
 *
 *   SKEIN_BROKERS=127.0.0.1:9092 npm run example examples/producer.ts -- --count 100000
 */
import { parseArgs } from 'node:util';
import { isSkeinError, Skein, type RecordMetadata } from 'skein';
import { brokers, ordersTopic } from './orders.js';

const { values } = parseArgs({ options: { count: { type: 'string', default: '10000' }, topic: { type: 'string', default: 'orders' } } });
const count = Number(values.count);
const orders = ordersTopic(values.topic);

await using skein = new Skein({ brokers, clientId: 'example-producer' });
try {
  await skein.admin().createTopic({ name: orders.name, partitions: 3, replicationFactor: 3 });
} catch (error) {
  if (!isSkeinError(error, 'TOPIC_EXISTS')) throw error;
}

await using producer = skein.producer({ acks: 'all', lingerMs: 5, inFlightMax: 5 });
const started = performance.now();
const sends: Promise<RecordMetadata[]>[] = [];
let last: RecordMetadata | undefined;
for (let id = 0; id < count; id++) {
  const customer = `customer-${id % 100}`;
  // One customer's orders share a key, hence a partition, hence an order.
  sends.push(producer.send({ topic: orders, messages: [{ key: customer, value: { id, customer, amountCents: 100 + (id % 5000) } }] }));
  // At most 5,000 sends waiting here; the producer batches them meanwhile.
  if (sends.length >= 5000 || id === count - 1) [last] = (await Promise.all(sends.splice(0))).at(-1)!;
}
const seconds = (performance.now() - started) / 1000;
console.log(`produced ${count} orders in ${seconds.toFixed(2)} s (${Math.round(count / seconds)} records/s); last one:`, last);
