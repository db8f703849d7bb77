/**
 * A pull consumer: `for await` over every partition of a topic from the
 * earliest record, long-polling for new ones. Stops after --max records or
 * when nothing new arrives for two seconds.
 *
 *   SKEIN_BROKERS=127.0.0.1:9092 npm run example examples/pull-consumer.ts -- --max 10000
 */
import { parseArgs } from 'node:util';
import { Skein } from 'skein';
import { brokers, ordersTopic } from './orders.js';

const { values } = parseArgs({ options: { max: { type: 'string', default: '10000' }, topic: { type: 'string', default: 'orders' } } });
const max = Number(values.max);
const orders = ordersTopic(values.topic);

await using skein = new Skein({ brokers, clientId: 'example-pull' });
await using consumer = skein.consumer({ topic: orders, from: 'earliest' });

let seen = 0;
let cents = 0;
const idle = new AbortController();
let idleTimer = setTimeout(() => idle.abort(), 2000);
try {
  // Batches of records come from fetch(); iterating the consumer gives them one at a time.
  while (seen < max && !idle.signal.aborted) {
    const records = await consumer.fetch({ maxRecords: 1000, maxWaitMs: 500, signal: idle.signal });
    if (records.length > 0) {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => idle.abort(), 2000);
    }
    for (const record of records) {
      cents += record.value.amountCents;
      if (++seen >= max) break;
    }
  }
} catch (error) {
  if (!idle.signal.aborted) throw error;
} finally {
  clearTimeout(idleTimer);
}
console.log(`read ${seen} orders worth ${(cents / 100).toFixed(2)}`);
