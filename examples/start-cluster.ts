/**
 * Starts a three-broker cluster inside this process, on loopback, and keeps
 * it running until Ctrl-C. (From a shell, `skein dev` does the same with one
 * process per broker.) Without --port it takes 9092-9094, or free ports when
 * those are in use (by `npm start`, say); without --data its data lives in a
 * temporary folder removed on exit.
 *
 *   npm run example examples/start-cluster.ts -- --port 9192
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Broker, brokerConfig } from 'skein/broker';

const { values } = parseArgs({ options: { port: { type: 'string' }, data: { type: 'string' } } });
const ports = await choosePorts(values.port);
const dataDir = values.data ?? mkdtempSync(join(tmpdir(), 'skein-example-'));
const addresses = ports.map((port) => `127.0.0.1:${port}`);
const peers = addresses.map((address, i) => `${i + 1}@${address}`).join(',');

const brokers: Broker[] = [];
try {
  for (const [i, address] of addresses.entries()) {
    brokers.push(await Broker.start(brokerConfig({ id: i + 1, listen: address, data: join(dataDir, `broker-${i + 1}`), peers })));
    console.log(`broker ${i + 1} listening on ${address}`);
  }
  // Listening before saying so: a Ctrl-C the moment "ready" shows must stop the cluster, not kill the process.
  const stopped = new Promise<void>((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
  console.log(`cluster ready: SKEIN_BROKERS=${addresses.join(',')}${values.data === undefined ? '' : ` (data in ${dataDir})`}`);
  await stopped;
  console.log('stopping: each broker hands its leaderships over first');
} finally {
  for (const broker of brokers) await broker.stop();
  if (values.data === undefined) rmSync(dataDir, { recursive: true, force: true });
}

/** --port's three ports, refused with a clear message when taken; without it 9092-9094, or free ports when those are taken. */
async function choosePorts(port: string | undefined): Promise<number[]> {
  const first = port === undefined ? 9092 : Number(port);
  if (!Number.isInteger(first) || first < 1 || first > 65_533) fail(`--port must be a port number up to 65533, got ${port}`);
  const wanted = [first, first + 1, first + 2];
  if (await allFree(wanted)) return wanted;
  if (port !== undefined) fail(`ports ${first}-${first + 2}: one of them is in use (a skein dev or npm start?); choose another --port`);
  const free = await Promise.all([0, 0, 0].map(() => bound(0)));
  console.log(`127.0.0.1:9092-9094 are in use (a skein dev or npm start?): taking free ports instead`);
  return free;
}

async function allFree(ports: number[]): Promise<boolean> {
  return (await Promise.all(ports.map((p) => bound(p).then(() => true, () => false)))).every(Boolean);
}

/** Binds a UDP socket on loopback to `port` (0: any free one), releases it, and resolves with the port. */
function bound(port: number): Promise<number> {
  const socket = createSocket('udp4');
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, '127.0.0.1', () => {
      const taken = socket.address().port;
      socket.close(() => resolve(taken));
    });
  });
}

function fail(message: string): never {
  console.error(`start-cluster: ${message}`);
  process.exit(2);
}
