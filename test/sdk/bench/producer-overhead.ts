import { performance } from 'node:perf_hooks';
import { Skein } from '../../../sdk/client.js';
import { serdes } from '../../../sdk/serde.js';
import { defineTopic, type TopicDefinition } from '../../../sdk/topic.js';
import { methods, protocolVersion, type InitProducerResponse, type ProduceResponse } from '../../../transport/protocol/messages.js';
import { encodeRecordBatch } from '../../../transport/protocol/record-batch.js';
import { RpcChannel } from '../../../transport/rpc/index.js';
import { FakeCluster } from '../support/fake-broker.js';

/**
 * What the SDK costs on top of the wire: the same records produced to an
 * in-memory fake broker (a) as pre-encoded batches sent straight over an
 * RpcChannel, pipelined like the producer, and (b) through
 * `producer.send()` (serialize, partition, buffer, batch, encode, pipeline,
 * resolve each record), once with the bytes serde (the SDK's own cost) and
 * once with the default CBOR serde. All share the in-memory channel and the
 * broker, so the ratios are the SDK's overhead, independent of the network.
 *
 *   npm run bench:sdk -- [--messages 200000] [--size 100] [--runs 3]
 */

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

const messages = flag('messages', 200_000);
const size = flag('size', 100);
const runs = flag('runs', 3);
const recordsPerBatch = 1000;
const inFlightMax = 5;
const value = new Uint8Array(size).fill(120);

async function rawRpc(): Promise<number> {
  const cluster = new FakeCluster({ brokers: 1 });
  cluster.createTopic('bench', { partitions: 1, replicationFactor: 1 });
  const rpc = new RpcChannel(await cluster.dial(cluster.address(1)));
  await rpc.request(methods.hello, { version: protocolVersion, clientId: 'bench' });
  const { producerId, producerEpoch, proof } = await rpc.request<InitProducerResponse>(methods.initProducer, {});
  const batches = messages / recordsPerBatch;
  const start = performance.now();
  let sent = 0;
  let producerSequence = 0;
  const lane = async (): Promise<void> => {
    while (sent < batches) {
      sent++;
      const now = Date.now();
      const batch = encodeRecordBatch({
        records: Array.from({ length: recordsPerBatch }, () => ({ key: null, value, timestamp: now })),
        producerId,
        producerEpoch,
        baseSequence: (producerSequence += recordsPerBatch) - recordsPerBatch,
      });
      await rpc.request<ProduceResponse>(methods.produce, { topic: 'bench', partition: 0, acks: 'all', batch, timeoutMs: 30_000, producerProof: proof });
    }
  };
  // Lanes would reorder sequences across them; one lane per in-flight slot with one producer id each is not what
  // the SDK does, so the baseline keeps one id and inFlightMax lanes sharing a counter, in order of sending.
  await Promise.all(Array.from({ length: inFlightMax }, lane));
  const seconds = (performance.now() - start) / 1000;
  await rpc.close();
  return messages / seconds;
}

async function sdk(topic: TopicDefinition<Uint8Array>): Promise<number> {
  const cluster = new FakeCluster({ brokers: 1 });
  cluster.createTopic('bench', { partitions: 1, replicationFactor: 1 });
  const skein = new Skein({ brokers: cluster.bootstrap() }, { dial: cluster.dial });
  const producer = skein.producer({ lingerMs: 1, inFlightMax, batchBytesMax: recordsPerBatch * (size + 30) });
  await producer.send({ topic, messages: [{ value }] });
  const start = performance.now();
  const pending: Promise<unknown>[] = [];
  const perSend = 100;
  for (let i = 0; i < messages; i += perSend) {
    pending.push(producer.send({ topic, messages: Array.from({ length: perSend }, () => ({ value, partition: 0 })) }));
    // Let the event loop breathe so the pipeline runs while we keep sending (the buffer bounds the rest).
    if (pending.length % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(pending);
  const seconds = (performance.now() - start) / 1000;
  await skein.close();
  return messages / seconds;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const bytesTopic = defineTopic<Uint8Array>('bench', { value: serdes.bytes() });
const cborTopic = defineTopic<Uint8Array>('bench');
const raw: number[] = [];
const bytes: number[] = [];
const cbor: number[] = [];
for (let run = 1; run <= runs; run++) {
  raw.push(await rawRpc());
  bytes.push(await sdk(bytesTopic));
  cbor.push(await sdk(cborTopic));
  process.stderr.write(`run ${run}/${runs}: raw RpcChannel ${Math.round(raw.at(-1)!)}, SDK bytes serde ${Math.round(bytes.at(-1)!)}, SDK CBOR serde ${Math.round(cbor.at(-1)!)} msgs/s\n`);
}
const rawMedian = median(raw);
const bytesMedian = median(bytes);
const cborMedian = median(cbor);
console.log(`raw RpcChannel (pre-encoded batches of ${recordsPerBatch} x ${size} B): ${Math.round(rawMedian)} msgs/s (median of ${runs})`);
console.log(`SDK producer.send, bytes serde:  ${Math.round(bytesMedian)} msgs/s  ratio ${(bytesMedian / rawMedian).toFixed(2)}`);
console.log(`SDK producer.send, CBOR serde:   ${Math.round(cborMedian)} msgs/s  ratio ${(cborMedian / rawMedian).toFixed(2)}`);
console.log(
  JSON.stringify({
    bench: 'sdk-producer-overhead',
    messages,
    size,
    runs,
    rawMsgsPerSec: Math.round(rawMedian),
    sdkBytesMsgsPerSec: Math.round(bytesMedian),
    sdkCborMsgsPerSec: Math.round(cborMedian),
    ratioBytes: Number((bytesMedian / rawMedian).toFixed(3)),
    ratioCbor: Number((cborMedian / rawMedian).toFixed(3)),
  }),
);
