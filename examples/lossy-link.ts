/**
 * The same workload over links that lose more and more: a fresh three-broker
 * cluster per loss rate, every link between brokers and client lossy (loss
 * plus a little duplication and reordering), 20,000 records produced
 * with acks 'all' and read back. Prints a table, a row as each rate
 * completes: throughput falls, nothing is lost, duplicated or reordered. A
 * rate that fails prints its error in its row and the others still run (the
 * exit code is then 1).
 *
 *   npm run example examples/lossy-link.ts -- --rates 0,0.01,0.05,0.1,0.2
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defineTopic, serdes, Skein } from 'skein';
import { Broker, brokerConfig } from 'skein/broker';

const { values } = parseArgs({ options: { rates: { type: 'string', default: '0,0.01,0.05,0.1,0.2' }, records: { type: 'string', default: '20000' } } });
const rates = values.rates!.split(',').map(Number);
const records = Number(values.records);
const topic = defineTopic<number>('lossy', { value: serdes.cbor<number>() });

async function freePort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  socket.close();
  return port;
}

async function run(loss: number): Promise<Record<string, string | number>> {
  // Each process applies the model to what it sends, so every datagram crosses one lossy link at this
  // rate (with the default side=both it would cross two: 36% loss between two processes at 20%).
  const spec = `loss=${loss},dup=${loss / 5},reorder=${loss / 2},side=send,seed=7`;
  const dir = mkdtempSync(join(tmpdir(), 'skein-lossy-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const peers = ports.map((p, i) => `${i + 1}@127.0.0.1:${p}`).join(',');
  const brokers = await Promise.all(ports.map((port, i) => Broker.start(brokerConfig({ id: i + 1, listen: `127.0.0.1:${port}`, data: join(dir, `b${i + 1}`), peers, loss: spec, tickMs: 50 }))));
  const skein = new Skein({ brokers: ports.map((p) => `127.0.0.1:${p}`), clientId: 'lossy-link', loss: spec });
  try {
    await skein.admin().createTopic({ name: 'lossy', partitions: 3, replicationFactor: 3 });
    const producer = skein.producer({ acks: 'all', lingerMs: 5 });
    let started = performance.now();
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < records; i += 100) {
      sends.push(producer.send({ topic, messages: Array.from({ length: Math.min(100, records - i) }, (_, k) => ({ key: null, value: i + k })) }));
    }
    await Promise.all(sends);
    const produceSeconds = (performance.now() - started) / 1000;
    const consumer = skein.consumer({ topic, from: 'earliest' });
    const seen = new Set<number>();
    let duplicates = 0;
    let outOfOrder = 0;
    const last = new Map<number, number>();
    started = performance.now();
    while (seen.size < records) {
      for (const r of await consumer.fetch({ recordsMax: 5000, waitMsMax: 500 })) {
        if (seen.has(r.value)) duplicates++;
        seen.add(r.value);
        // One producer, sends in call order: each partition must hold its values increasing.
        if (r.value <= (last.get(r.partition) ?? -1)) outOfOrder++;
        last.set(r.partition, r.value);
      }
    }
    const consumeSeconds = (performance.now() - started) / 1000;
    await consumer.close();
    return {
      loss: `${(loss * 100).toFixed(0)}%`,
      'produce msgs/s': Math.round(records / produceSeconds),
      'consume msgs/s': Math.round(records / consumeSeconds),
      delivered: seen.size,
      duplicates,
      'out of order': outOfOrder,
    };
  } finally {
    await skein.close();
    for (const broker of brokers) await broker.stop({ transferTimeoutMs: 0 });
    rmSync(dir, { recursive: true, force: true });
  }
}

const columns = ['loss', 'produce msgs/s', 'consume msgs/s', 'delivered', 'duplicates', 'out of order'];
const widths = columns.map((c) => Math.max(c.length, 8));
const line = (cells: Array<string | number>): string => cells.map((cell, i) => String(cell).padStart(widths[i]!)).join('  ');
console.log(line(columns));
let failed = 0;
for (const loss of rates) {
  console.error(`running at ${(loss * 100).toFixed(0)}% loss...`);
  try {
    const row = await run(loss);
    console.log(line(columns.map((c) => row[c]!)));
  } catch (error) {
    failed++;
    console.log(`${line([`${(loss * 100).toFixed(0)}%`])}  failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
process.exitCode = failed > 0 ? 1 : 0;
