import { hostPortKey } from '../transport/core/address.js';
import { SkeinError } from '../transport/errors.js';
import { brokerLimits, clusterLimits, logLimits, transportLimits } from '../transport/limits.js';
import { type BrokerInfo, type TopicConfig, readFlushPolicy } from '../transport/protocol/messages.js';

/**
 * Elections after 0.5–1 s without word from a leader at the default 100 ms tick: well above the round
 * trips of a lossy link (npm run bench:rtt-loss), so a healthy leader's heartbeats get through at 20–30%
 * loss, and short enough that writes fail over within 2 s of a crash.
 */
export const brokerElectionTicksDefault = 5;

/**
 * A broker's configuration, from flags or a JSON file, validated in one place:
 * every problem is an INVALID_CONFIG naming the setting, before anything opens.
 */
export interface BrokerConfig {
  id: number;
  /** Where the UDP socket binds. */
  listen: HostPort;
  /** What clients and peers should dial; differs from `listen` behind NAT or a relay. */
  advertise: HostPort;
  dataDir: string;
  /** The initial voters of the metadata group, this broker among them; empty for a broker that joins a running cluster. */
  peers: BrokerInfo[];
  /** Brokers of a running cluster to join through (tried in turn); null for a founding broker (--peers). */
  join: HostPort[] | null;
  clusterId: string;
  /** A SKEIN_LOSS-style spec for this broker's endpoint (the env var applies when absent). */
  loss: string | null;
  datagramBytes: number;
  /** One Raft tick; elections take electionTicks ticks, heartbeats go every heartbeatTicks. */
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Hand partition leaderships back to their preferred replicas (see LeaderBalancer). */
  leaderBalance: boolean;
  /** Shared by the brokers of a cluster; peer links prove themselves with it (peer-auth.ts). Null: the network is trusted. */
  peerSecret: string | null;
  /** Settings of topics created without their own. */
  topicDefaults: TopicConfig;
  /**
   * Memory the broker's transport may hold for clients: partly received requests up to this, and data
   * queued for clients up to this again (each client always gets a small share; see transportLimits).
   */
  clientBufferBytes: number;
  /**
   * Credit a client's connection gets beyond what it sent that arrived (more where its path holds more, see
   * PathPace); 0 lets every client have its whole receive window on its way at once.
   */
  clientPaceBytes: number;
  /** Client connections from one IP address at once (a NAT with many clients behind it needs more). */
  connectionsPerAddress: number;
  /** Partition moves catching up or committing at once, cluster-wide (the controller's setting applies). */
  movesInFlight: number;
  /** Catch-up replication to new replicas, bytes per second, per broker as partition leader. */
  moveRateBytesPerSecond: number;
  /** 'on-join': when a broker joins (becomes active), the controller rebalances onto it (the controller's setting applies). */
  autoRebalance: AutoRebalance;
  /** Founding brokers that vote in the metadata group (1, 3 or 5; the lowest ids); the others follow it as learners. */
  controllerVoters: number;
}

export type AutoRebalance = 'off' | 'on-join';

export interface HostPort {
  host: string;
  port: number;
}

export const topicDefaults: TopicConfig = {
  retentionMs: null,
  retentionBytes: null,
  segmentBytes: 64 * 1024 * 1024,
  flush: { mode: 'always' },
};

/** The raw settings as a user writes them (flags or a config file). */
export interface BrokerSettings {
  id?: unknown;
  listen?: unknown;
  advertise?: unknown;
  data?: unknown;
  peers?: unknown;
  join?: unknown;
  clusterId?: unknown;
  loss?: unknown;
  datagramBytes?: unknown;
  tickMs?: unknown;
  electionTicks?: unknown;
  heartbeatTicks?: unknown;
  leaderBalance?: unknown;
  peerSecret?: unknown;
  topicDefaults?: unknown;
  clientBufferBytes?: unknown;
  clientPaceBytes?: unknown;
  connectionsPerAddress?: unknown;
  movesInFlight?: unknown;
  moveRate?: unknown;
  autoRebalance?: unknown;
  controllerVoters?: unknown;
}

const settingNames = new Set(['id', 'listen', 'advertise', 'data', 'peers', 'join', 'clusterId', 'loss', 'datagramBytes', 'tickMs', 'electionTicks', 'heartbeatTicks', 'leaderBalance', 'peerSecret', 'topicDefaults', 'clientBufferBytes', 'clientPaceBytes', 'connectionsPerAddress', 'movesInFlight', 'moveRate', 'autoRebalance', 'controllerVoters']);


export function brokerConfig(settings: BrokerSettings): BrokerConfig {
  for (const key of Object.keys(settings)) {
    if (!settingNames.has(key)) throw invalid(`unknown setting "${key}"`);
  }
  const id = integer(settings.id, 'id', 1, 65_535);
  const listen = hostPort(settings.listen ?? '127.0.0.1:9092', 'listen');
  const advertise = settings.advertise === undefined ? defaultAdvertise(listen) : hostPort(settings.advertise, 'advertise');
  if (typeof settings.data !== 'string' || settings.data.length === 0) throw invalid('data must name a directory');
  if (settings.join !== undefined && settings.peers !== undefined) throw invalid('join and peers exclude each other: a founding broker names its peers, a new one joins through a running broker');
  const join = settings.join === undefined ? null : joinList(settings.join);
  const peers = join !== null ? [] : settings.peers === undefined ? [{ id, ...advertise }] : peerList(settings.peers);
  const self = join !== null ? { id, ...advertise } : peers.find((p) => p.id === id);
  if (self === undefined) throw invalid(`peers must include this broker (id ${id})`);
  // The metadata registers the advertised address and the other brokers dial the peers entry: two names for
  // one broker that disagree leave it registered where nobody can reach it.
  if (self.host !== advertise.host || self.port !== advertise.port) {
    const given = settings.advertise === undefined ? ` (the default for --listen ${hostPortKey(listen.host, listen.port)}; set --advertise)` : '';
    throw invalid(
      `broker ${id} advertises ${hostPortKey(advertise.host, advertise.port)}${given}, but peers lists broker ${id} at ${hostPortKey(self.host, self.port)}: ` +
        `clients and peers would be told one address and dial the other. Use --advertise ${hostPortKey(self.host, self.port)} or correct --peers`,
    );
  }
  const electionTicks = settings.electionTicks === undefined ? brokerElectionTicksDefault : integer(settings.electionTicks, 'electionTicks', 3, 1000);
  const datagramBytes =
    settings.datagramBytes === undefined ? transportLimits.datagramBytesDefault : integer(settings.datagramBytes, 'datagramBytes', transportLimits.datagramBytesMin, transportLimits.datagramBytesMax);
  const heartbeatTicks = settings.heartbeatTicks === undefined ? 1 : integer(settings.heartbeatTicks, 'heartbeatTicks', 1, 1000);
  if (heartbeatTicks >= electionTicks) throw invalid('heartbeatTicks must be smaller than electionTicks');
  return {
    id,
    listen,
    advertise,
    dataDir: settings.data,
    peers,
    join,
    clusterId: settings.clusterId === undefined ? 'skein' : boundedString(settings.clusterId, 'clusterId', brokerLimits.metadataStringBytesMax),
    loss: settings.loss === undefined || settings.loss === null ? null : nonEmptyString(settings.loss, 'loss'),
    datagramBytes,
    tickMs: settings.tickMs === undefined ? 100 : integer(settings.tickMs, 'tickMs', 1, 10_000),
    electionTicks,
    heartbeatTicks,
    leaderBalance: boolean(settings.leaderBalance ?? true, 'leaderBalance'),
    peerSecret: settings.peerSecret === undefined || settings.peerSecret === null ? null : secret(settings.peerSecret),
    topicDefaults: settings.topicDefaults === undefined ? topicDefaults : topicConfig(settings.topicDefaults),
    clientBufferBytes:
      settings.clientBufferBytes === undefined
        ? transportLimits.reassemblyBytesMaxDefault
        : integer(settings.clientBufferBytes, 'clientBufferBytes', brokerLimits.clientBufferBytesMin, Number.MAX_SAFE_INTEGER),
    clientPaceBytes: settings.clientPaceBytes === undefined ? transportLimits.receivePaceBytesDefault : clientPace(settings.clientPaceBytes, datagramBytes),
    connectionsPerAddress:
      settings.connectionsPerAddress === undefined
        ? transportLimits.connectionsPerAddressMaxDefault
        : integer(settings.connectionsPerAddress, 'connectionsPerAddress', 1, transportLimits.connectionsPerEndpointMax),
    movesInFlight: settings.movesInFlight === undefined ? clusterLimits.movesInFlightDefault : integer(settings.movesInFlight, 'movesInFlight', 1, clusterLimits.movesInFlightMax),
    moveRateBytesPerSecond:
      settings.moveRate === undefined ? clusterLimits.catchUpBytesPerSecondDefault : byteRate(settings.moveRate, 'moveRate', clusterLimits.catchUpBytesPerSecondMin, clusterLimits.catchUpBytesPerSecondMax),
    autoRebalance: autoRebalance(settings.autoRebalance ?? 'off'),
    controllerVoters: controllerVoters(settings.controllerVoters ?? clusterLimits.controllerVotersDefault),
  };
}

/** 0 (not paced), or from a few datagrams (credit in smaller steps stalls the sender) to the receive window (all it can use). */
function clientPace(value: unknown, datagramBytes: number): number {
  const min = 4 * datagramBytes;
  const max = transportLimits.receiveWindowBytesDefault;
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (n === 0) return 0;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) {
    throw invalid(`clientPaceBytes must be 0 (not paced) or an integer between ${min} (4 datagrams) and ${max} (the receive window), got ${JSON.stringify(value)}`);
  }
  return n;
}

/** An odd number, so that every voter counts: 1 (no failure tolerated), 3 (one) or 5 (two). */
function controllerVoters(value: unknown): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (n === 1 || n === 3 || n === 5) return n;
  throw invalid(`controllerVoters must be 1, 3 or 5, not ${JSON.stringify(value)}`);
}

function autoRebalance(value: unknown): AutoRebalance {
  if (value === 'off' || value === 'on-join') return value;
  throw invalid(`autoRebalance must be off or on-join, not ${JSON.stringify(value)}`);
}

function topicConfig(value: unknown): TopicConfig {
  if (typeof value !== 'object' || value === null) throw invalid('topicDefaults must be an object');
  const v = value as Record<string, unknown>;
  const nullable = (key: 'retentionMs' | 'retentionBytes'): number | null => (v[key] === undefined || v[key] === null ? null : integer(v[key], `topicDefaults.${key}`, 1, Number.MAX_SAFE_INTEGER));
  let flush: TopicConfig['flush'] = topicDefaults.flush;
  if (v.flush !== undefined) {
    try {
      flush = readFlushPolicy(v.flush);
    } catch (error) {
      throw invalid(`topicDefaults.flush: ${(error as Error).message}`);
    }
  }
  return {
    retentionMs: nullable('retentionMs'),
    retentionBytes: nullable('retentionBytes'),
    segmentBytes: v.segmentBytes === undefined ? topicDefaults.segmentBytes : integer(v.segmentBytes, 'topicDefaults.segmentBytes', logLimits.segmentBytesMin, logLimits.segmentBytesMax),
    flush,
  };
}

/** Bytes per second: a number, or with a unit (KiB, MiB, GiB; per second implied), within [min, max]. */
function byteRate(value: unknown, name: string, min: number, max: number): number {
  const units: Record<string, number> = { '': 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmg]ib)?(?:\/s)?\s*$/i.exec(String(value));
  const bytes = match === null ? NaN : Math.floor(Number(match[1]) * units[(match[2] ?? '').toLowerCase()]!);
  if (!Number.isSafeInteger(bytes) || bytes < min || bytes > max) throw invalid(`${name} must be a rate from ${min / 1024} KiB/s to ${max / 1024 ** 3} GiB/s (like 16MiB), got ${String(value)}`);
  return bytes;
}

/** "host:port,host:port" or a list of them: brokers of a running cluster. */
function joinList(value: unknown): HostPort[] {
  const items = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : Array.isArray(value) ? value : null;
  if (items === null || items.length === 0 || items.length > 64) throw invalid('join must be "host:port,..." naming 1 to 64 brokers of the cluster');
  return items.map((item) => hostPort(item, 'join'));
}

/** "1@host:port,2@host:port" or a list of { id, host, port }. */
export function peerList(value: unknown): BrokerInfo[] {
  let peers: BrokerInfo[];
  if (typeof value === 'string') {
    peers = value
      .split(',')
      .filter((part) => part.trim() !== '')
      .map((part) => {
        const at = part.indexOf('@');
        if (at < 1) throw invalid(`peer "${part}" must look like id@host:port`);
        return { id: integer(Number(part.slice(0, at)), `peer id in "${part}"`, 1, 65_535), ...hostPort(part.slice(at + 1), `peer "${part}"`) };
      });
  } else if (Array.isArray(value)) {
    peers = value.map((p, i) => {
      if (typeof p !== 'object' || p === null) throw invalid(`peers[${i}] must be { id, host, port }`);
      const { id, host, port } = p as Record<string, unknown>;
      return { id: integer(id, `peers[${i}].id`, 1, 65_535), host: nonEmptyString(host, `peers[${i}].host`), port: integer(port, `peers[${i}].port`, 1, 65_535) };
    });
  } else {
    throw invalid('peers must be "id@host:port,..." or a list of { id, host, port }');
  }
  if (peers.length === 0) throw invalid('peers must name at least one broker');
  if (peers.length > clusterLimits.brokersMax) throw invalid(`peers names ${peers.length} brokers; a cluster has at most ${clusterLimits.brokersMax}`);
  const ids = new Set(peers.map((p) => p.id));
  if (ids.size !== peers.length) throw invalid('peers lists a broker id twice');
  return peers;
}

export function hostPort(value: unknown, name: string): HostPort {
  if (typeof value !== 'string') throw invalid(`${name} must be host:port`);
  const colon = value.lastIndexOf(':');
  if (colon < 0) throw invalid(`${name} "${value}" must be host:port`);
  const host = value.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  if (host.length === 0) throw invalid(`${name} "${value}" has no host`);
  // Hosts and the cluster id live in the metadata, whose reader takes at most this much (readMetadataSnapshot).
  if (Buffer.byteLength(host) > brokerLimits.metadataStringBytesMax) throw invalid(`${name} "${value}": the host is longer than ${brokerLimits.metadataStringBytesMax} bytes`);
  const portText = value.slice(colon + 1);
  if (!/^\d+$/.test(portText)) throw invalid(`${name} "${value}" has no valid port`);
  return { host, port: integer(Number(portText), `${name} port`, 0, 65_535) };
}

function defaultAdvertise(listen: HostPort): HostPort {
  // A wildcard bind is not dialable; loopback is the only safe guess, and the flag exists to say otherwise.
  const wildcard = listen.host === '0.0.0.0' || listen.host === '::';
  return { host: wildcard ? '127.0.0.1' : listen.host, port: listen.port };
}

function integer(value: unknown, name: string, min: number, max: number): number {
  const n = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) {
    throw invalid(`${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function secret(value: unknown): string {
  const bytes = typeof value === 'string' ? Buffer.byteLength(value) : -1;
  if (bytes < brokerLimits.peerSecretBytesMin || bytes > brokerLimits.peerSecretBytesMax) {
    throw invalid(`peerSecret must be a string of ${brokerLimits.peerSecretBytesMin} to ${brokerLimits.peerSecretBytesMax} bytes`);
  }
  return value as string;
}

/** true/false, or the words a flag would carry: on/off, true/false. */
function boolean(value: unknown, name: string): boolean {
  if (value === true || value === 'true' || value === 'on') return true;
  if (value === false || value === 'false' || value === 'off') return false;
  throw invalid(`${name} must be true or false (on or off), got ${JSON.stringify(value)}`);
}

function boundedString(value: unknown, name: string, bytesMax: number): string {
  const text = nonEmptyString(value, name);
  if (Buffer.byteLength(text) > bytesMax) throw invalid(`${name} is longer than ${bytesMax} bytes`);
  return text;
}

function nonEmptyString(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(`${name} must be a non-empty string`);
  return value;
}

function invalid(message: string): SkeinError {
  return new SkeinError('INVALID_CONFIG', { message });
}
