/**
 * A push consumer: the broker pushes committed records as they commit; the
 * handler's pace sets how many may be in flight (credit), so a slow handler
 * is never flooded. Runs until --records-max records were handled or Ctrl-C.
 *
 *   SKEIN_BROKERS=127.0.0.1:9092 npm run example examples/push-consumer.ts -- --records-max 10000
 */
import { parseArgs } from 'node:util';
import { Skein } from 'skein';
import { brokers, ordersTopic } from './orders.js';

const { values } = parseArgs({ options: { 'records-max': { type: 'string', default: '10000' }, topic: { type: 'string', default: 'orders' } } });
const recordsMax = Number(values['records-max']);
const orders = ordersTopic(values.topic);

await using skein = new Skein({ brokers, clientId: 'example-push' });
const done = new AbortController();
process.once('SIGINT', () => done.abort());
let handled = 0;
const subscription = skein.subscribe({
  topic: orders,
  from: 'earliest',
  inFlightMax: 1,
  signal: done.signal,
  handler: async (record) => {
    // Per partition, one record at a time and in order: a real handler would write to a database here.
    if (record.value.amountCents < 0) throw new Error(`order ${record.value.id} has a negative amount`);
    if (++handled >= recordsMax) done.abort();
  },
});
// Status events: partitions subscribed, leader moves, handler errors, and 'closed' once close() is done.
void (async () => {
  for await (const status of subscription.status()) {
    if (status.type === 'resubscribing') console.error(`partition ${status.partition}: following its new leader`);
    else if (status.type !== 'subscribed' && status.type !== 'closed') console.error('status:', status);
  }
})();
await new Promise((resolve) => done.signal.addEventListener('abort', resolve, { once: true }));
await subscription.close();
console.log(`handled ${handled} orders`);
