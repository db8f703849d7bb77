/**
 * What the example scripts share: the Order record, its typed topic, and
 * where the cluster is. A real application keeps these in one module too, so
 * producers and consumers agree on the types.
 */
import { defineTopic, serdes } from 'skein';

export interface Order {
  id: number;
  customer: string;
  amountCents: number;
}

/** Values are Orders (CBOR on the wire), keys are customer ids. */
export function ordersTopic(name = 'orders') {
  return defineTopic<Order, string>(name, { key: serdes.string() });
}

/** The cluster to talk to: $SKEIN_BROKERS, or the local `npm start` cluster. */
export const brokers = (process.env.SKEIN_BROKERS ?? '127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094').split(',');
