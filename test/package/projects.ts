/**
 * The projects the package test installs the packed tarball into, as a new
 * user would write them: plain ESM, plain CommonJS, and TypeScript with
 * node16 and bundler resolution. Each is a map of file name to contents.
 */

export interface Project {
  name: string;
  files: Record<string, string>;
}

/**
 * A first program: one broker embedded in the process, a topic, a produce and
 * a fetch through the SDK, and the transport's own RPC echo, printing what it
 * got as JSON. It touches all three entry points and the bundled CBOR codec
 * (frames, record values) on real sockets.
 */
function firstProgram(module: 'esm' | 'cjs'): string {
  const imports =
    module === 'esm'
      ? `import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Skein, defineTopic, serdes, isSkeinError, SkeinError } from 'skein';
import { Broker, brokerConfig } from 'skein/broker';
import { Endpoint, RpcChannel } from 'skein/transport';`
      : `const { createSocket } = require('node:dgram');
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { Skein, defineTopic, serdes, isSkeinError, SkeinError } = require('skein');
const { Broker, brokerConfig } = require('skein/broker');
const { Endpoint, RpcChannel } = require('skein/transport');`;
  return `${imports}

async function freePort() {
  const socket = createSocket('udp4');
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  socket.close();
  return port;
}

async function main() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'skein-package-'));
  const broker = await Broker.start(brokerConfig({ id: 1, listen: '127.0.0.1:' + port, data: dir, peers: '1@127.0.0.1:' + port, tickMs: 20 }));
  const skein = new Skein({ brokers: ['127.0.0.1:' + port], clientId: 'package-test' });
  const server = await Endpoint.open({ host: '127.0.0.1', port: 0, acceptConnections: true });
  const client = await Endpoint.open({});
  try {
    await skein.admin().createTopic({ name: 'orders', partitions: 1, replicationFactor: 1 });
    const orders = defineTopic('orders', { key: serdes.string() });
    const value = { id: 1, item: 'grüner Tee', bytes: new Uint8Array([1, 2, 3]), tags: ['a', null, true] };
    const [meta] = await skein.producer().send({ topic: orders, messages: [{ key: 'customer-42', value }] });
    const [record] = await skein.consumer({ topic: orders, from: 'earliest' }).fetch({ recordsMax: 1, waitMsMax: 5000 });

    server.onConnection((connection) => {
      new RpcChannel(connection, { handler: (method, body) => ({ method, echo: body }) });
    });
    const rpc = new RpcChannel(await client.connect(server.address));
    const echo = await rpc.request('echo', { hello: 'world', n: 2 ** 40 }, { timeoutMs: 5000 });

    console.log(JSON.stringify({
      offset: meta.offset,
      key: record.key,
      value: { ...record.value, bytes: Array.from(record.value.bytes) },
      echo,
      typedError: isSkeinError(new SkeinError('TIMEOUT', { message: 'x' }), 'TIMEOUT'),
    }));
  } finally {
    await skein.close();
    await client.close();
    await server.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`;
}

/** What the first program prints when the package works. */
export const firstProgramOutput = {
  offset: 0,
  key: 'customer-42',
  value: { id: 1, item: 'grüner Tee', bytes: [1, 2, 3], tags: ['a', null, true] },
  echo: { method: 'echo', echo: { hello: 'world', n: 2 ** 40 } },
  typedError: true,
};

/**
 * TypeScript that uses the public types for real: an `@ts-expect-error` on a
 * wrong value fails the check if the types ever collapse to `any`.
 */
const typedTour = `import { Skein, defineTopic, serdes, isSkeinError, type RecordMetadata } from 'skein';
import { Broker, brokerConfig, type BrokerConfig } from 'skein/broker';
import { Endpoint, RpcChannel, type EndpointStats } from 'skein/transport';

interface Order { id: number; item: string }
const orders = defineTopic<Order, string>('orders', { key: serdes.string() });

export async function tour(): Promise<RecordMetadata | undefined> {
  await using skein = new Skein({ brokers: ['127.0.0.1:9092'], clientId: 'typed' });
  await using producer = skein.producer({ acks: 'all', lingerMs: 5 });
  // @ts-expect-error quantity is not an Order field, item is missing
  await producer.send({ topic: orders, messages: [{ key: 'k', value: { id: 1, quantity: 2 } }] });
  const [meta] = await producer.send({ topic: orders, messages: [{ key: 'k', value: { id: 1, item: 'tea' } }] });
  await using consumer = skein.consumer({ topic: orders, from: 'earliest' });
  for (const record of await consumer.fetch({ recordsMax: 10 })) {
    const item: string = record.value.item;
    const key: string | null = record.key;
    void item, key;
  }
  try {
    await consumer.fetch();
  } catch (error) {
    if (!isSkeinError(error, 'DESERIALIZATION_FAILED')) throw error;
  }
  return meta;
}

export async function embedded(config: BrokerConfig): Promise<EndpointStats> {
  const broker = await Broker.start(brokerConfig({ id: 1, data: '/tmp/d' }));
  await broker.stop();
  const endpoint = await Endpoint.open({ host: '127.0.0.1', port: 0, acceptConnections: true });
  endpoint.onConnection((connection) => void new RpcChannel(connection, { handler: () => null }));
  void config;
  return endpoint.stats();
}
`;

/** The same from a CommonJS TypeScript file: resolves the package's `require` types. */
const typedRequire = `import { Skein, serdes } from 'skein';
import { brokerConfig } from 'skein/broker';
import { Endpoint } from 'skein/transport';

export function open(): Skein {
  void brokerConfig, Endpoint;
  // @ts-expect-error serdes.string() is a Serde<string>, not a number
  const n: number = serdes.string().deserialize(new Uint8Array());
  void n;
  return new Skein({ brokers: ['127.0.0.1:9092'] });
}
`;

/**
 * The compiler settings the README names as what the shipped types need:
 * ES2022 and @types/node (which declares AsyncDisposable), nothing newer.
 * The type roots point at the repository's @types/node: the projects are
 * installed offline.
 */
function tsconfig(typeRoots: string, options: Record<string, unknown>): string {
  return JSON.stringify(
    {
      compilerOptions: { target: 'ES2022', lib: ['ES2022'], types: ['node'], typeRoots: [typeRoots], strict: true, noEmit: true, skipLibCheck: false, ...options },
    },
    null,
    2,
  );
}

export function projects(typeRoots: string): Project[] {
  return [
    { name: 'esm', files: { 'package.json': packageJson('module'), 'main.js': firstProgram('esm') } },
    { name: 'cjs', files: { 'package.json': packageJson('commonjs'), 'main.js': firstProgram('cjs') } },
    {
      name: 'ts-node16',
      files: {
        'package.json': packageJson('module'),
        'tsconfig.json': tsconfig(typeRoots, { module: 'node16', moduleResolution: 'node16' }),
        'tour.ts': typedTour,
        'legacy.cts': typedRequire,
      },
    },
    {
      name: 'ts-bundler',
      files: {
        'package.json': packageJson('module'),
        'tsconfig.json': tsconfig(typeRoots, { module: 'ESNext', moduleResolution: 'bundler' }),
        'tour.ts': typedTour,
      },
    },
  ];
}

function packageJson(type: 'module' | 'commonjs'): string {
  return JSON.stringify({ name: 'skein-user', version: '1.0.0', private: true, type }, null, 2);
}
