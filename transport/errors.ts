/**
 * The one error table of skein, shared by transport, broker and SDK.
 *
 * Every error that crosses a module boundary or the wire is a SkeinError with
 * a stable literal `code` and a `retriable` flag taken from this table. Unknown
 * codes arriving from the wire are NOT retriable (kafkajs treats unknown errors
 * as retriable and retries forever on a bug; we refuse that default). What else
 * a code means to its receiver is a column here too (ErrorSemantics), so that a
 * new code is decided in one place rather than in each set that lists codes.
 *
 * `instanceof SkeinError` works across duplicate copies of the package (an ESM
 * and a CJS copy loaded together, or two versions in one tree), because the
 * check looks for a brand registered with Symbol.for rather than a prototype.
 */

/** What a code means to whoever receives it. A column left out is false, the answer that is safe when unsure. */
export interface ErrorSemantics {
  /** Trying again (after a backoff) may succeed: the trouble is transient. */
  readonly retriable: boolean;
  /**
   * The sender's view of the cluster may be out of date (the partition's leader moved, or a topic's partitions
   * changed): a client refreshes its metadata before the next attempt. False costs a retry against a stale route.
   */
  readonly staleMetadata?: true;
  /**
   * An answer with this code proves that the broker did not write what it was asked to (it refused before the log);
   * any other answer leaves a write's fate open, and the producer treats the batch as possibly written. False is
   * safe: it can only make the producer more careful.
   */
  readonly notWritten?: true;
  readonly message: string;
}

export const errorTable = {
  // transport
  TIMEOUT: { retriable: true, staleMetadata: true, message: 'the operation did not finish before its deadline' },
  ABORTED: { retriable: false, message: 'the operation was aborted by its signal' },
  CONNECTION_CLOSED: { retriable: true, staleMetadata: true, message: 'the connection closed' },
  CONNECTION_REFUSED: { retriable: true, staleMetadata: true, notWritten: true, message: 'the peer did not accept the connection' },
  NO_BROKERS_REACHABLE: { retriable: false, notWritten: true, message: 'no bootstrap broker answered: no cluster runs at those addresses, or they are wrong' },
  PEER_DEAD: { retriable: true, staleMetadata: true, message: 'the peer stopped answering' },
  MESSAGE_TOO_LARGE: { retriable: false, notWritten: true, message: 'the message exceeds the configured maximum' },
  BACKPRESSURE: { retriable: true, notWritten: true, message: 'a bounded buffer is full' },
  PROTOCOL_VIOLATION: { retriable: false, message: 'the peer broke the protocol' },
  ENDPOINT_CLOSED: { retriable: false, message: 'the endpoint is closed' },
  // requests and configuration
  INVALID_ARGUMENT: { retriable: false, notWritten: true, message: 'an argument or option is invalid' },
  INVALID_CONFIG: { retriable: false, notWritten: true, message: 'the configuration is invalid' },
  UNSUPPORTED_VERSION: { retriable: false, notWritten: true, message: 'the peer speaks an unsupported protocol version' },
  UNKNOWN_METHOD: { retriable: false, notWritten: true, message: 'the peer does not know this request' },
  MALFORMED_REQUEST: { retriable: false, notWritten: true, message: 'the request could not be decoded or is not well formed' },
  INTERNAL: { retriable: false, message: 'the peer failed while handling the request' },
  // cluster and topics
  NOT_LEADER: { retriable: true, staleMetadata: true, notWritten: true, message: 'this broker does not lead the partition' },
  LEADER_NOT_AVAILABLE: { retriable: true, staleMetadata: true, notWritten: true, message: 'the partition has no leader right now' },
  NOT_CONTROLLER: { retriable: true, notWritten: true, message: 'this broker does not lead the metadata group' },
  NOT_AUTHORIZED: { retriable: false, message: 'only a broker of the cluster may ask this' },
  UNKNOWN_TOPIC: { retriable: false, notWritten: true, message: 'the topic does not exist' },
  UNKNOWN_PARTITION: { retriable: false, staleMetadata: true, notWritten: true, message: 'the partition does not exist' },
  TOPIC_EXISTS: { retriable: false, message: 'a topic with that name exists' },
  INVALID_TOPIC: { retriable: false, message: 'the topic name or settings are invalid' },
  INVALID_REPLICATION_FACTOR: { retriable: false, message: 'the replication factor cannot be met' },
  NOT_ENOUGH_REPLICAS: { retriable: true, message: 'too few replicas are in sync to commit' },
  LIMIT_EXCEEDED: { retriable: false, message: 'the cluster holds as many topics or partitions as its limits allow' },
  // cluster membership and partition moves
  UNKNOWN_BROKER: { retriable: false, message: 'the cluster has no broker with that id' },
  BROKER_ID_IN_USE: { retriable: false, message: 'the broker id belongs to another data directory, or was decommissioned for good' },
  INVALID_BROKER_STATE: { retriable: false, message: "the broker's state does not allow this (joining, decommissioning or gone)" },
  BROKER_REMOVED: {
    retriable: true,
    staleMetadata: true,
    notWritten: true,
    message: 'this broker was decommissioned and is no longer part of the cluster: ask another broker',
  },
  CLUSTER_FULL: { retriable: false, message: 'the cluster has as many brokers as it may hold' },
  INVALID_VOTER_CHANGE: { retriable: false, message: 'the controller voter change is not allowed' },
  INVALID_REPLICA_ASSIGNMENT: { retriable: false, message: 'the replica list cannot be used (duplicates, unknown or inactive brokers, no live quorum)' },
  REASSIGNMENT_IN_PROGRESS: { retriable: false, message: 'the partition is already moving; wait for the move or cancel it' },
  NO_REASSIGNMENT_IN_PROGRESS: { retriable: false, message: 'the partition is not moving' },
  REASSIGNMENT_NOT_CANCELLABLE: { retriable: false, message: 'the move has committed its new replica set and completes' },
  // records and offsets
  RECORD_TOO_LARGE: { retriable: false, notWritten: true, message: 'a record or batch exceeds the size limit' },
  CORRUPT_BATCH: { retriable: false, notWritten: true, message: 'a record batch failed its checks' },
  OFFSET_OUT_OF_RANGE: { retriable: false, message: 'the offset is outside the log' },
  // idempotent producer
  DUPLICATE_SEQUENCE: { retriable: false, message: 'the batch was already written' },
  OUT_OF_ORDER_SEQUENCE: { retriable: false, notWritten: true, message: 'the batch sequence number has a gap' },
  PRODUCER_FENCED: { retriable: false, notWritten: true, message: 'a newer producer with the same id exists' },
  UNKNOWN_PRODUCER: { retriable: false, notWritten: true, message: 'the partition no longer holds state for this producer id (it was idle past the expiry): a retry cannot be told from a new batch' },
  INVALID_PRODUCER_ID: { retriable: false, notWritten: true, message: 'the batch names a producer id this client was not issued (its proof is missing or wrong)' },
  TOO_MANY_PRODUCERS: { retriable: true, notWritten: true, message: 'the partition holds the state of as many producers as its limit allows, all active within the expiry' },
  THROTTLED: { retriable: true, notWritten: true, message: 'this connection or address asked for more producer ids than its share; retry after details.retryAfterMs' },
  // storage
  STORAGE_CORRUPT: { retriable: false, message: 'a file in the data directory is corrupt or foreign' },
  STORAGE_LOCKED: { retriable: false, message: 'another process holds the data directory' },
  STORAGE_FAILED: { retriable: false, message: 'a disk operation failed' },
  STORAGE_FULL: { retriable: true, staleMetadata: true, message: "this replica's disk is full: it takes no writes until space returns, and another replica leads" },
  // consumer groups
  UNKNOWN_MEMBER: { retriable: false, message: 'the group does not know this member (it left, expired or was fenced): rejoin' },
  REBALANCE_IN_PROGRESS: { retriable: true, message: 'the group is rebalancing' },
  UNKNOWN_GROUP: { retriable: false, message: 'the consumer group does not exist' },
  GROUP_NOT_EMPTY: { retriable: false, message: 'the consumer group has members; stop them first' },
  STALE_MEMBER_EPOCH: { retriable: false, message: 'the member does not own the partition at this epoch: the commit was refused' },
  FENCED_MEMBER_EPOCH: { retriable: false, message: 'the member epoch is not one the coordinator gave: the member must give up its partitions and rejoin' },
  FENCED_INSTANCE_ID: { retriable: false, message: 'another member joined with the same instance id and replaced this one' },
  GROUP_FULL: { retriable: false, message: 'the group or its coordinator has no room for more members, topics or groups' },
  // sdk
  CLIENT_CLOSED: { retriable: false, message: 'the client, producer or consumer is closed' },
  DESERIALIZATION_FAILED: { retriable: false, message: "a record's key or value could not be deserialized" },
  // raft
  RECONFIGURATION_IN_PROGRESS: { retriable: true, message: 'a membership change of the group is still in flight' },
  PROPOSAL_DROPPED: { retriable: true, message: 'the proposal was overwritten by a new leader and will never commit' },
  REPLICA_STOPPED: { retriable: true, message: 'this replica of the group has stopped' },
} as const satisfies Record<string, ErrorSemantics>;

export type ErrorCode = keyof typeof errorTable;

export function errorSemantics(code: ErrorCode): ErrorSemantics {
  return errorTable[code];
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errorTable, value);
}

const brand = Symbol.for('skein.error');

export interface SkeinErrorOptions {
  message?: string;
  cause?: unknown;
  /** Structured, wire-safe extra information (for example the leader hint of NOT_LEADER). */
  details?: Readonly<Record<string, unknown>>;
}

export class SkeinError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, options: SkeinErrorOptions = {}) {
    super(options.message ?? errorTable[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SkeinError';
    this.code = code;
    this.retriable = errorSemantics(code).retriable;
    this.details = options.details;
    Object.defineProperty(this, brand, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }

  /** The wire form of this error, as carried by an RPC error response. */
  toWire(): WireError {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export interface WireError {
  code: string;
  message: string;
  details?: Readonly<Record<string, unknown>>;
}

/**
 * Rebuilds an error received from a peer. A code this version does not know
 * becomes INTERNAL (not retriable), keeping the peer's code in `details`.
 */
export function errorFromWire(wire: unknown): SkeinError {
  if (typeof wire !== 'object' || wire === null) {
    return new SkeinError('PROTOCOL_VIOLATION', { message: 'malformed error response' });
  }
  const { code, message, details } = wire as Partial<WireError>;
  const text = typeof message === 'string' ? message : undefined;
  const extra = typeof details === 'object' && details !== null ? details : undefined;
  if (isErrorCode(code)) {
    return new SkeinError(code, { message: text, details: extra });
  }
  return new SkeinError('INTERNAL', { message: text, details: { ...extra, peerCode: String(code) } });
}

export function isSkeinError(value: unknown, code?: ErrorCode): value is SkeinError {
  return value instanceof SkeinError && (code === undefined || value.code === code);
}
