import { SkeinError } from '../../transport/errors.js';
import type { DecodedRecord, RecordHeader } from '../../transport/protocol/records.js';
import type { TopicDefinition } from '../topic.js';

/** One record as a consumer sees it. */
export interface ConsumedRecord<V = unknown, K = unknown> {
  topic: string;
  partition: number;
  offset: number;
  /** null when the record was sent without a key. */
  key: K | null;
  value: V;
  /** Header values are raw bytes (a string header arrives as its UTF-8). */
  headers: RecordHeader[];
  /** Milliseconds since the Unix epoch, as the producer set it. */
  timestamp: number;
}

/**
 * The stored record behind a DESERIALIZATION_FAILED error, for a group
 * subscription to dead-letter as it was written. Kept beside the error, not
 * in its details: details are for people and logs, and would pin the whole
 * fetched batch the bytes are a view into for as long as the error lives.
 */
const undecodable = new WeakMap<SkeinError, DecodedRecord>();

export function undecodableRecord(error: SkeinError): DecodedRecord | undefined {
  return undecodable.get(error);
}

/**
 * Applies the topic's serdes. A failure is DESERIALIZATION_FAILED naming the
 * topic, partition, offset and part, with the serde's error as cause: the
 * application decides (seek past it, or stop), the SDK does not crash.
 */
export function deserializeRecord<V, K>(topic: TopicDefinition<V, K>, partition: number, record: DecodedRecord): ConsumedRecord<V, K> {
  const failed = (part: 'key' | 'value', cause: unknown): SkeinError => {
    const error = new SkeinError('DESERIALIZATION_FAILED', {
      message: `the ${part} of ${topic.name}/${partition} at offset ${record.offset} could not be deserialized: ${cause instanceof Error ? cause.message : String(cause)}`,
      details: { topic: topic.name, partition, offset: record.offset, part },
      cause,
    });
    undecodable.set(error, record);
    return error;
  };
  let key: K | null = null;
  if (record.key !== null) {
    try {
      key = topic.key.deserialize(record.key);
    } catch (cause) {
      throw failed('key', cause);
    }
  }
  if (record.value === null) throw failed('value', new Error('the record has no value (null)'));
  let value: V;
  try {
    value = topic.value.deserialize(record.value);
  } catch (cause) {
    throw failed('value', cause);
  }
  return { topic: topic.name, partition, offset: record.offset, key, value, headers: record.headers, timestamp: record.timestamp };
}
