import { readFileSync } from 'node:fs';
import { Broker } from '../broker.js';
import { brokerConfig, type BrokerSettings } from '../config.js';
import { SkeinError } from '../../transport/errors.js';
import { helpText, parseFlags, stringFlag, UsageError, type FlagSpecs } from './args.js';

const flags: FlagSpecs = {
  id: { type: 'string', value: 'N', help: 'this broker id (1-65535)' },
  listen: { type: 'string', value: 'HOST:PORT', help: 'UDP address to bind', default: '127.0.0.1:9092' },
  advertise: { type: 'string', value: 'HOST:PORT', help: 'address clients and peers dial (behind NAT or a relay)', default: 'the listen address' },
  data: { type: 'string', value: 'DIR', help: 'data directory (locked while the broker runs)' },
  peers: { type: 'string', value: 'ID@HOST:PORT,...', help: 'founding brokers, this broker included (the metadata group\'s voters: see --controller-voters)', default: 'this broker alone' },
  join: { type: 'string', value: 'HOST:PORT,...', help: 'join a running cluster through any of its brokers (instead of --peers); it takes no partitions until asked' },
  'cluster-id': { type: 'string', value: 'NAME', help: 'name of the cluster', default: 'skein' },
  loss: { type: 'string', value: 'SPEC', help: 'put this broker on a lossy link (SKEIN_LOSS syntax)', default: '$SKEIN_LOSS' },
  'datagram-bytes': { type: 'string', value: 'BYTES', help: 'largest UDP datagram sent (1200 for the internet, up to 65507 on a LAN)', default: '1200' },
  'tick-ms': { type: 'string', value: 'MS', help: 'Raft tick', default: '100' },
  'election-ticks': { type: 'string', value: 'N', help: 'ticks without a leader before an election', default: '5' },
  'peer-secret': { type: 'string', value: 'SECRET', help: 'secret shared by the brokers; peer links prove themselves with it (16+ bytes)', default: '$SKEIN_PEER_SECRET' },
  'leader-balance': { type: 'string', value: 'on|off', help: 'hand leaderships back to preferred replicas', default: 'on' },
  'connections-per-address': { type: 'string', value: 'N', help: 'client connections from one IP address at once', default: '256' },
  'client-buffer-bytes': { type: 'string', value: 'BYTES', help: 'memory for clients: partly received requests, and again data queued for them', default: '268435456 (256 MiB)' },
  'client-pace-bytes': { type: 'string', value: 'BYTES', help: 'credit a client gets beyond what of its data arrived, more where its path holds more (0: its whole 32 MiB window)', default: '262144 (256 KiB)' },
  'moves-in-flight': { type: 'string', value: 'N', help: 'partition moves catching up at once, cluster-wide (the controller\'s setting applies)', default: '8' },
  'move-rate': { type: 'string', value: 'RATE', help: 'catch-up replication to new replicas, per broker as leader (64KiB to 4GiB per second)', default: '16MiB' },
  'auto-rebalance': { type: 'string', value: 'off|on-join', help: 'rebalance onto a broker when it joins, through throttled moves (the controller\'s setting applies)', default: 'off' },
  'controller-voters': { type: 'string', value: '1|3|5', help: 'founding brokers (lowest ids) voting in the metadata group; the others follow it (read when the cluster is founded, the same on every founding broker; a cluster that exists keeps its voters)', default: '3' },
  config: { type: 'string', value: 'FILE', help: 'JSON file with the same settings (flags win)' },
};

const usage = 'skein broker --id N --data DIR [--listen HOST:PORT] [--advertise HOST:PORT] [--peers id@host:port,... | --join host:port,...]';

export async function brokerCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, flags);
  if (parsed.values.help === true) {
    process.stdout.write(helpText(usage, 'Runs one broker until SIGINT/SIGTERM, then hands its leaderships over and stops.', flags));
    return 0;
  }
  const settings: BrokerSettings = {};
  const file = stringFlag(parsed, 'config');
  if (file !== undefined) Object.assign(settings, readConfigFile(file));
  const map: Array<[string, keyof BrokerSettings]> = [
    ['id', 'id'],
    ['listen', 'listen'],
    ['advertise', 'advertise'],
    ['data', 'data'],
    ['peers', 'peers'],
    ['join', 'join'],
    ['cluster-id', 'clusterId'],
    ['loss', 'loss'],
    ['datagram-bytes', 'datagramBytes'],
    ['tick-ms', 'tickMs'],
    ['election-ticks', 'electionTicks'],
    ['leader-balance', 'leaderBalance'],
    ['peer-secret', 'peerSecret'],
    ['client-buffer-bytes', 'clientBufferBytes'],
    ['client-pace-bytes', 'clientPaceBytes'],
    ['connections-per-address', 'connectionsPerAddress'],
    ['moves-in-flight', 'movesInFlight'],
    ['move-rate', 'moveRate'],
    ['auto-rebalance', 'autoRebalance'],
    ['controller-voters', 'controllerVoters'],
  ];
  for (const [flag, key] of map) {
    const value = stringFlag(parsed, flag);
    if (value !== undefined) settings[key] = value;
  }
  if (settings.peerSecret === undefined && process.env.SKEIN_PEER_SECRET) settings.peerSecret = process.env.SKEIN_PEER_SECRET;
  if (settings.id === undefined) throw new UsageError('--id is required');
  if (settings.data === undefined) throw new UsageError('--data is required');
  const config = brokerConfig(settings);
  // Listening from the start: a parent that dies while the broker starts must still stop it.
  const parentGone = whenParentGone();
  const broker = await Broker.start(config);
  const { host, port } = broker.address;
  process.stdout.write(`skein broker ${config.id} listening on ${host}:${port} (advertised as ${config.advertise.host}:${config.advertise.port}), data in ${config.dataDir}\n`);
  const refusal = await new Promise<SkeinError | null>((resolve) => {
    const stop = (error: SkeinError | null): void => {
      process.off('SIGINT', signalled);
      process.off('SIGTERM', signalled);
      resolve(error);
    };
    const signalled = (): void => stop(null);
    process.on('SIGINT', signalled);
    process.on('SIGTERM', signalled);
    void parentGone.then(signalled);
    void broker.refused.then(stop);
  });
  if (refusal !== null) {
    process.stderr.write(`skein broker ${config.id}: refusing to go on (${refusal.code}): ${refusal.message}\n`);
    await broker.stop({ transferTimeoutMs: 0 });
    return 2;
  }
  process.stdout.write(`skein broker ${config.id}: stopping (handing over leadership)\n`);
  await broker.stop();
  return 0;
}

/**
 * A broker started by `skein dev` has an IPC channel to it, which closes when the parent ends however
 * it ends: a SIGKILLed `skein dev` otherwise left its quiet brokers running for hours. Never resolves
 * for a broker started any other way. The channel must not keep a stopped broker alive.
 */
function whenParentGone(): Promise<void> {
  if (process.channel === undefined) return new Promise(() => {});
  process.channel.unref();
  return new Promise((resolve) => process.once('disconnect', resolve));
}

function readConfigFile(path: string): BrokerSettings {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new SkeinError('INVALID_CONFIG', { message: `cannot read config file ${path}: ${(error as Error).message}` });
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('the file must hold one JSON object');
    return value as BrokerSettings;
  } catch (error) {
    throw new SkeinError('INVALID_CONFIG', { message: `config file ${path} is not valid: ${(error as Error).message}` });
  }
}
