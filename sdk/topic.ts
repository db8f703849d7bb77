import { SkeinError } from '../transport/errors.js';
import { topicNameProblem } from '../transport/protocol/messages.js';
import { defaultSerde, type Serde } from './serde.js';

const topicBrand = Symbol.for('skein.topic');

/**
 * A topic name bound to the serdes of its values and keys, so producing to
 * and consuming from it is typed end to end. Create one with `defineTopic`.
 */
export interface TopicDefinition<V = unknown, K = unknown> {
  readonly name: string;
  readonly value: Serde<V>;
  readonly key: Serde<K>;
  readonly [topicBrand]: true;
}

/** A topic as the API takes it: a plain name (CBOR keys and values) or a typed definition. */
export type TopicInput<V = unknown, K = unknown> = string | TopicDefinition<V, K>;

/**
 * Declares a typed topic. Serdes default to CBOR.
 *
 * ```ts
 * const orders = defineTopic<Order, string>('orders', { key: serdes.string() });
 * ```
 */
export function defineTopic<V = unknown, K = unknown>(name: string, serdes: { value?: Serde<V>; key?: Serde<K> } = {}): TopicDefinition<V, K> {
  const problem = topicNameProblem(name);
  if (problem !== null) throw new SkeinError('INVALID_ARGUMENT', { message: `defineTopic: ${problem}` });
  for (const role of ['value', 'key'] as const) {
    const serde = serdes[role];
    if (serde !== undefined && (typeof serde?.serialize !== 'function' || typeof serde?.deserialize !== 'function')) {
      throw new SkeinError('INVALID_ARGUMENT', { message: `defineTopic(${JSON.stringify(name)}): the ${role} serde needs serialize() and deserialize()` });
    }
  }
  return Object.freeze({
    name,
    value: (serdes.value ?? defaultSerde) as Serde<V>,
    key: (serdes.key ?? defaultSerde) as Serde<K>,
    [topicBrand]: true as const,
  });
}

/** Accepts a name or a definition from application code and checks it. */
export function resolveTopic<V, K>(topic: TopicInput<V, K>, where: string): TopicDefinition<V, K> {
  if (typeof topic === 'string') {
    const problem = topicNameProblem(topic);
    if (problem !== null) throw new SkeinError('INVALID_ARGUMENT', { message: `${where}: ${problem}` });
    return defineTopic<V, K>(topic);
  }
  if (typeof topic !== 'object' || topic === null || (topic as Partial<TopicDefinition>)[topicBrand] !== true) {
    throw new SkeinError('INVALID_ARGUMENT', { message: `${where}: topic must be a name or the result of defineTopic()` });
  }
  return topic;
}
