/**
 * Starts a three-broker cluster inside this process, on loopback, and keeps
 * it running until Ctrl-C. (From a shell, `skein dev` does the same with one
 * process per broker.)
 *
 *   npm run example examples/start-cluster.ts -- --port 9092
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Broker, brokerConfig } from 'skein/broker';

const { values } = parseArgs({ options: { port: { type: 'string', default: '9092' }, data: { type: 'string' } } });
const firstPort = Number(values.port);
const dataDir = values.data ?? mkdtempSync(join(tmpdir(), 'skein-example-'));
const peers = [1, 2, 3].map((id) => `${id}@127.0.0.1:${firstPort + id - 1}`).join(',');

const brokers: Broker[] = [];
for (const id of [1, 2, 3]) {
  const config = brokerConfig({ id, listen: `127.0.0.1:${firstPort + id - 1}`, data: join(dataDir, `broker-${id}`), peers });
  brokers.push(await Broker.start(config));
  console.log(`broker ${id} listening on 127.0.0.1:${firstPort + id - 1}`);
}
console.log(`cluster ready: SKEIN_BROKERS=${[0, 1, 2].map((i) => `127.0.0.1:${firstPort + i}`).join(',')} (data in ${dataDir})`);

await new Promise<void>((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
console.log('stopping: each broker hands its leaderships over first');
for (const broker of brokers) await broker.stop();
