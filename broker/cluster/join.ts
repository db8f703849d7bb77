import { sleep } from '../../transport/abort.js';
import type { Endpoint } from '../../transport/endpoint.js';
import { isSkeinError, SkeinError } from '../../transport/errors.js';
import { type BrokerInfo, type HelloResponse, type MetadataResponse, methods, protocolVersion } from '../../transport/protocol/messages.js';
import { RpcChannel } from '../../transport/rpc/index.js';
import { BodyReader } from '../../transport/protocol/validate.js';
import { brokerLimits } from '../../transport/limits.js';
import type { HostPort } from '../config.js';
import { peerMethods, type PeerLinks } from './peers.js';

/**
 * How a broker started with `--join` becomes a member of a running cluster.
 * It asks one of the given brokers, as a client would, which cluster it is
 * (a different cluster id ends the broker: INVALID_CONFIG) and where its
 * brokers and controller are; then, over a peer link proven with the peer
 * secret, it asks the controller to register it (`join`). The controller
 * commits the registration (state joining) and adds the broker to the
 * metadata group as a learner; the broker's empty metadata replica takes the
 * log from there, and once it has caught up the controller activates it.
 *
 * Resolves once the registration is committed; retried through controller
 * changes and unreachable brokers. Throws on a refusal that retrying cannot
 * mend: a wrong peer secret (NOT_AUTHORIZED), an id another data directory
 * holds or a decommissioned one (BROKER_ID_IN_USE), a full cluster
 * (CLUSTER_FULL), another cluster (INVALID_CONFIG).
 */
export interface JoinOptions {
  endpoint: Endpoint;
  peers: PeerLinks;
  /** Brokers of the cluster to ask, in turn. */
  via: readonly HostPort[];
  clusterId: string;
  self: BrokerInfo;
  storageId: string;
  /** Brokers learned of, so the peer links can dial them before this broker's metadata names them. */
  learned: (brokers: readonly BrokerInfo[]) => void;
  signal: AbortSignal;
  onNotice: (message: string) => void;
}

const fatalCodes = new Set(['NOT_AUTHORIZED', 'BROKER_ID_IN_USE', 'CLUSTER_FULL', 'INVALID_CONFIG', 'MALFORMED_REQUEST', 'UNKNOWN_METHOD']);
const noticeEveryAttempts = 10;

export async function joinCluster(options: JoinOptions): Promise<BrokerInfo[]> {
  let lastError: unknown = null;
  for (let attempt = 0; !options.signal.aborted; attempt++) {
    const via = options.via[attempt % options.via.length]!;
    try {
      const { controllerId, brokerId } = await discover(options, via);
      // A joiner under the controller's own id cannot dial it: the broker asked relays (and the controller refuses the id).
      const to = controllerId !== null && controllerId !== options.self.id ? controllerId : brokerId;
      const operation = { op: 'join', broker: options.self, storageId: options.storageId };
      return readFounders(await requestFollowingController(options, to, operation));
    } catch (error) {
      if (isSkeinError(error) && fatalCodes.has(error.code)) throw error;
      lastError = error;
    }
    if (attempt % noticeEveryAttempts === noticeEveryAttempts - 1) {
      options.onNotice(`still joining the cluster through ${options.via.map((a) => `${a.host}:${a.port}`).join(', ')}: ${(lastError as Error)?.message ?? String(lastError)}`);
    }
    await sleep(Math.min(100 * 2 ** Math.min(attempt, 5), 2_000), options.signal).catch(() => {});
  }
  throw new SkeinError('CONNECTION_CLOSED', { message: 'the broker stopped before it joined the cluster' });
}

/** One broker's answer, as a client gets it: its id, and the cluster's brokers and controller. */
async function discover(options: JoinOptions, via: HostPort): Promise<{ brokerId: number; controllerId: number | null }> {
  const connection = await options.endpoint.connect({ host: via.host, port: via.port }, { timeoutMs: brokerLimits.peerAuthTimeoutMs });
  const rpc = new RpcChannel(connection, {});
  try {
    const timeoutMs = brokerLimits.peerAuthTimeoutMs;
    const hello = await rpc.request<HelloResponse>(methods.hello, { version: protocolVersion, clientId: `skein-broker-${options.self.id}` }, { timeoutMs, signal: options.signal });
    const h = new BodyReader(hello, 'hello response');
    const brokerId = h.int('brokerId', { min: 1, max: brokerLimits.brokerIdMax });
    const clusterId = h.string('clusterId', { bytesMax: brokerLimits.metadataStringBytesMax });
    if (clusterId !== options.clusterId) {
      throw new SkeinError('INVALID_CONFIG', { message: `${via.host}:${via.port} is broker ${brokerId} of cluster "${clusterId}", not of "${options.clusterId}" (--cluster-id)` });
    }
    const metadata = await rpc.request<MetadataResponse>(methods.metadata, { topics: [] }, { timeoutMs, signal: options.signal });
    const m = new BodyReader(metadata, 'metadata response');
    const brokers = m.list('brokers', { lengthMax: brokerLimits.brokerIdMax }, readBrokerInfo)!;
    const controllerId = m.raw('controllerId') === null ? null : m.int('controllerId', { min: 1, max: brokerLimits.brokerIdMax });
    // The broker asked is where we reached it, whatever the metadata says of it.
    options.learned([...brokers.filter((b) => b.id !== brokerId && b.id !== options.self.id), { id: brokerId, host: via.host, port: via.port }]);
    return { brokerId, controllerId };
  } finally {
    await rpc.close().catch(() => {});
  }
}

/** Sends the join to `to`, following NOT_CONTROLLER hints a few times (leadership moves while we ask). */
async function requestFollowingController(options: JoinOptions, to: number, operation: unknown): Promise<unknown> {
  let target = to;
  for (let hop = 0; ; hop++) {
    try {
      return await options.peers.request(target, peerMethods.controller, operation, { signal: options.signal, timeoutMs: brokerLimits.controllerCommandTimeoutMs });
    } catch (error) {
      const leaderId = isSkeinError(error, 'NOT_CONTROLLER') ? (error.details?.leaderId as number | null | undefined) : null;
      if (hop >= 3 || leaderId === null || leaderId === undefined || leaderId === target || leaderId === options.self.id) throw error;
      target = leaderId;
    }
  }
}

function readFounders(response: unknown): BrokerInfo[] {
  const r = new BodyReader(response, 'join response');
  return r.list('founders', { lengthMax: brokerLimits.brokerIdMax }, readBrokerInfo)!;
}

function readBrokerInfo(value: unknown, where: string): BrokerInfo {
  const b = new BodyReader(value, where);
  return { id: b.int('id', { min: 1, max: brokerLimits.brokerIdMax }), host: b.string('host', { bytesMax: brokerLimits.metadataStringBytesMax }), port: b.int('port', { min: 0, max: 65_535 }) };
}
