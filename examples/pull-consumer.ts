/**
 * A pull consumer: `for await` over every partition of a topic from the
 * earliest record, long-polling for new ones. Stops after --records-max records or
 * when nothing new arrives for two seconds.
 *
 *   SKEIN_BROKERS=127.0.0.1:9092 npm run example examples/pull-consumer.ts -- --records-max 10000
 */
import { parseArgs } from 'node:util';
import { isSkeinError, Skein } from 'skein';
import { brokers, ordersTopic } from './orders.js';

const { values } = parseArgs({ options: { 'records-max': { type: 'string', default: '10000' }, topic: { type: 'string', default: 'orders' } } });
const recordsMax = Number(values['records-max']);
const orders = ordersTopic(values.topic);

await using skein = new Skein({ brokers, clientId: 'example-pull' });
await using consumer = skein.consumer({ topic: orders, from: 'earliest' });

let seen = 0;
let cents = 0;
// The iterator long-polls for as long as the consumer is open: closing it ends the loop, here after two quiet seconds.
const idle = setTimeout(() => void consumer.close(), 2000);
try {
  for await (const record of consumer) {
    idle.refresh();
    cents += record.value.amountCents;
    if (++seen >= recordsMax) break;
  }
} catch (error) {
  // The long poll that the idle close cut short.
  if (!isSkeinError(error, 'CLIENT_CLOSED')) throw error;
} finally {
  clearTimeout(idle);
}
console.log(`read ${seen} orders worth ${(cents / 100).toFixed(2)}`);
