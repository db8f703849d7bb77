import { SkeinError } from '../errors.js';
import { transportLimits } from '../limits.js';
import type { CongestionAlgorithm } from './congestion.js';

/** Endpoint settings a user may choose; everything else comes from transportLimits. */
export interface EndpointCoreOptions {
  acceptConnections?: boolean;
  datagramBytes?: number;
  messageBytesMax?: number;
  congestion?: CongestionAlgorithm;
  fixedWindowBytes?: number;
  idleTimeoutMs?: number;
  keepaliveMs?: number;
  handshakeTimeoutMs?: number;
  closeTimeoutMs?: number;
  /** Bounded send buffer per connection (backpressure beyond it). */
  sendBufferBytes?: number;
  /** Receiver flow-control window per connection. */
  receiveWindowBytes?: number;
  connectionsMax?: number;
}

export type EndpointCoreConfig = Required<EndpointCoreOptions>;

function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new SkeinError('INVALID_CONFIG', { message: `${name} must be an integer in [${min}, ${max}], got ${String(value)}` });
  }
  return value;
}

/** Fills defaults and checks every option; throws INVALID_CONFIG naming the bad one. */
export function resolveEndpointConfig(options: EndpointCoreOptions = {}): EndpointCoreConfig {
  const L = transportLimits;
  const datagramBytes = checkInteger('datagramBytes', options.datagramBytes ?? L.datagramBytesDefault, L.datagramBytesMin, L.datagramBytesMax);
  const messageBytesMax = checkInteger('messageBytesMax', options.messageBytesMax ?? L.messageBytesDefault, 0, L.messageBytesMax);
  // One largest message (with its length prefix) must fit both buffers, or it could never be sent or received.
  const messageStreamBytes = messageBytesMax + 8;
  const sendBufferBytes = checkInteger(
    'sendBufferBytes',
    options.sendBufferBytes ?? Math.max(L.sendBufferBytesDefault, messageStreamBytes),
    messageStreamBytes,
    2 ** 40,
  );
  const receiveWindowBytes = checkInteger(
    'receiveWindowBytes',
    options.receiveWindowBytes ?? Math.max(L.receiveWindowBytesDefault, messageStreamBytes),
    Math.max(messageStreamBytes, L.datagramBytesMin),
    2 ** 40,
  );
  const congestion = options.congestion ?? 'newreno';
  if (congestion !== 'newreno' && congestion !== 'fixed') {
    throw new SkeinError('INVALID_CONFIG', { message: `congestion must be 'newreno' or 'fixed', got ${String(congestion)}` });
  }
  const idleTimeoutMs = checkInteger('idleTimeoutMs', options.idleTimeoutMs ?? L.idleTimeoutMsDefault, 0, 24 * 3600 * 1000);
  return {
    acceptConnections: options.acceptConnections ?? false,
    datagramBytes,
    messageBytesMax,
    congestion,
    fixedWindowBytes: checkInteger('fixedWindowBytes', options.fixedWindowBytes ?? L.fixedWindowBytesDefault, 2 * datagramBytes, 2 ** 40),
    idleTimeoutMs,
    keepaliveMs: checkInteger('keepaliveMs', options.keepaliveMs ?? L.keepaliveMsDefault, 0, 24 * 3600 * 1000),
    handshakeTimeoutMs: checkInteger('handshakeTimeoutMs', options.handshakeTimeoutMs ?? L.handshakeTimeoutMsDefault, 1, 3600 * 1000),
    closeTimeoutMs: checkInteger('closeTimeoutMs', options.closeTimeoutMs ?? L.closeTimeoutMsDefault, 0, 3600 * 1000),
    sendBufferBytes,
    receiveWindowBytes,
    connectionsMax: checkInteger('connectionsMax', options.connectionsMax ?? L.connectionsPerEndpointMax, 1, L.connectionsPerEndpointMax),
  };
}
