import type { LossModel } from '../transport/loss/types.js';
import type { TransportOptions } from './dial.js';
import { sdkLimits } from '../transport/limits.js';
import { type BrokerAddress, parseBrokerAddress } from './address.js';
import { OptionReader } from './check.js';

export interface SkeinOptions {
  /** Bootstrap brokers as "host:port" ("[::1]:9092" for IPv6). Any one of them is enough to find the rest. */
  brokers: readonly string[];
  /** Names this client to brokers (logs, metrics). Default "skein". */
  clientId?: string;
  /**
   * Puts this client on a lossy link: a loss model, or a SKEIN_LOSS-style spec
   * ("loss=0.1,dup=0.01,seed=7"). Default: the SKEIN_LOSS environment variable, if set.
   */
  loss?: LossModel | string;
  /** One attempt of one request waits this long for its answer. Default 30 s. */
  requestTimeoutMs?: number;
  /** Deadline of a whole call through all its retries (and of a produced record until acknowledged). Default 120 s. */
  deliveryTimeoutMs?: number;
  /** Setting up a connection to a broker. Default 10 s. */
  connectTimeoutMs?: number;
  /**
   * The first contact: until some broker has answered, requests dial the
   * bootstrap brokers and fail with NO_BROKERS_REACHABLE (naming each
   * address and what happened to it) when none answers within this long.
   * Once one has, an unreachable cluster is waited for, as any fault, until
   * `deliveryTimeoutMs`. Raise it for a process started together with its
   * cluster. Default 3 s.
   */
  bootstrapTimeoutMs?: number;
  /** Cached metadata older than this is refreshed before use. Default 5 min. */
  metadataMaxAgeMs?: number;
  /**
   * Transport tuning: `datagramBytes` (up to 65,507 on loopback/LAN; default 1200),
   * `congestion` ('newreno' or 'fixed' for lossy lab links), buffers, timeouts.
   */
  transport?: TransportOptions;
}

export interface ResolvedSkeinOptions {
  brokers: BrokerAddress[];
  clientId: string;
  loss: LossModel | string | undefined;
  requestTimeoutMs: number;
  deliveryTimeoutMs: number;
  connectTimeoutMs: number;
  bootstrapTimeoutMs: number;
  metadataMaxAgeMs: number;
  transport: TransportOptions;
}

const known = ['brokers', 'clientId', 'loss', 'requestTimeoutMs', 'deliveryTimeoutMs', 'connectTimeoutMs', 'bootstrapTimeoutMs', 'metadataMaxAgeMs', 'transport'];
const transportKnown = [
  'datagramBytes',
  'congestion',
  'fixedWindowBytes',
  'idleTimeoutMs',
  'keepaliveMs',
  'deadPeerTimeoutMs',
  'sendBufferBytes',
  'receiveWindowBytes',
  'messageBytesMax',
];

export function resolveSkeinOptions(options: unknown): ResolvedSkeinOptions {
  const r = new OptionReader(options, 'new Skein()', 'INVALID_CONFIG', known);
  const list = r.raw('brokers');
  if (!Array.isArray(list) || list.length === 0) {
    throw r.fail('new Skein(): brokers must be a non-empty list of "host:port" strings, for example ["127.0.0.1:9092"]');
  }
  if (list.length > sdkLimits.bootstrapBrokersMax) throw r.fail(`new Skein(): at most ${sdkLimits.bootstrapBrokersMax} bootstrap brokers`);
  const brokers = list.map((entry: unknown, i) => {
    const address = parseBrokerAddress(entry);
    if (typeof address === 'string') throw r.fail(`new Skein(): brokers[${i}]: ${address}`);
    return address;
  });
  const loss = r.raw('loss');
  if (loss !== undefined && typeof loss !== 'string' && (typeof loss !== 'object' || loss === null || typeof (loss as LossModel).decide !== 'function')) {
    throw r.fail('new Skein(): loss must be a loss model or a spec string such as "loss=0.1,seed=7"');
  }
  return {
    brokers,
    clientId: r.string('clientId', { bytesMax: sdkLimits.clientIdBytesMax }, 'skein'),
    loss: loss as LossModel | string | undefined,
    requestTimeoutMs: r.int('requestTimeoutMs', { min: 1, max: sdkLimits.requestTimeoutMsMax }, sdkLimits.requestTimeoutMsDefault),
    deliveryTimeoutMs: r.int('deliveryTimeoutMs', { min: 1, max: sdkLimits.deliveryTimeoutMsMax }, sdkLimits.deliveryTimeoutMsDefault),
    connectTimeoutMs: r.int('connectTimeoutMs', { min: 1, max: sdkLimits.requestTimeoutMsMax }, sdkLimits.connectTimeoutMsDefault),
    bootstrapTimeoutMs: r.int('bootstrapTimeoutMs', { min: 1, max: sdkLimits.deliveryTimeoutMsMax }, sdkLimits.bootstrapTimeoutMsDefault),
    metadataMaxAgeMs: r.int('metadataMaxAgeMs', { min: 0, max: sdkLimits.deliveryTimeoutMsMax }, sdkLimits.metadataMaxAgeMs),
    transport: readTransport(r.raw('transport')),
  };
}

/** Checks the names here; the transport checks the values when the endpoint opens (INVALID_CONFIG there too). */
function readTransport(transport: unknown): TransportOptions {
  new OptionReader(transport, 'new Skein(): transport', 'INVALID_CONFIG', transportKnown);
  return { ...(transport as TransportOptions | undefined) };
}
