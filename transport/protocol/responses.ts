import { SkeinError } from '../errors.js';
import type { BrokerInfo, DescribeClusterResponse, ListOffsetsResponse, MetadataResponse, ProduceResponse } from './messages.js';

/**
 * Readers for what brokers answer, beside the request readers of messages.ts:
 * an answer is the peer's data, checked for the fields the client relies on
 * before it trusts them. A broken answer is a PROTOCOL_VIOLATION that names
 * what is wrong, never a TypeError where the field is first used.
 */

function violation(where: string, what: string): SkeinError {
  return new SkeinError('PROTOCOL_VIOLATION', { message: `malformed ${where}: ${what}` });
}

function isMap(body: unknown): body is Record<string, unknown> {
  return typeof body === 'object' && body !== null;
}

function isOffset(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export function readProduceResponse(body: unknown): ProduceResponse {
  if (!isMap(body) || !isOffset(body.baseOffset)) throw violation('produce response', 'baseOffset must be a non-negative integer');
  return { baseOffset: body.baseOffset, duplicate: body.duplicate === true };
}

export function readListOffsetsResponse(body: unknown): ListOffsetsResponse {
  if (!isMap(body) || !isOffset(body.offset)) throw violation('listOffsets response', 'offset must be a non-negative integer');
  return { offset: body.offset };
}

/** The record batches of a fetch response or a push (`where` names which); the other fields are not read. */
export function readBatches(body: unknown, where: 'fetch response' | 'push'): Uint8Array {
  if (!isMap(body) || !(body.batches instanceof Uint8Array)) throw violation(where, 'batches must be bytes');
  return body.batches;
}

export function readMetadataResponse(body: unknown): MetadataResponse {
  const where = 'metadata response';
  if (!isMap(body)) throw violation(where, 'not a map');
  const r = body as Partial<MetadataResponse>;
  if (!Array.isArray(r.brokers) || !Array.isArray(r.topics)) throw violation(where, 'brokers and topics must be lists');
  for (const b of r.brokers) if (!isBroker(b)) throw violation(where, 'a broker needs id, host and port');
  for (const t of r.topics) {
    if (typeof t?.name !== 'string' || typeof t.topicId !== 'number' || !Array.isArray(t.partitions)) throw violation(where, 'a topic needs name, topicId and partitions');
    for (const p of t.partitions) {
      if (typeof p?.partition !== 'number' || (p.leader !== null && typeof p.leader !== 'number') || typeof p.leaderEpoch !== 'number' || !Array.isArray(p.replicas)) {
        throw violation(where, `partition metadata of ${t.name} is malformed`);
      }
    }
  }
  const controllerId = typeof r.controllerId === 'number' ? r.controllerId : null;
  return { clusterId: String(r.clusterId ?? ''), controllerId, brokers: r.brokers, topics: r.topics, missing: Array.isArray(r.missing) ? r.missing : [] };
}

export function readDescribeClusterResponse(body: unknown): DescribeClusterResponse {
  if (!isMap(body) || !Array.isArray(body.brokers)) throw violation('describeCluster response', 'brokers must be a list');
  return body as unknown as DescribeClusterResponse;
}

function isBroker(value: unknown): value is BrokerInfo {
  return isMap(value) && typeof value.id === 'number' && typeof value.host === 'string' && typeof value.port === 'number';
}
