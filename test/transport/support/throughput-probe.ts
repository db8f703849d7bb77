/**
 * A quick throughput probe for profiling the transport (not a benchmark: use
 * `npm run bench:transport` for figures against raw dgram). A receiver and a
 * sender run in two processes on loopback; the sender pushes 64 KiB messages
 * for --seconds through a loss model and the receiver reports what arrived.
 *
 *   node test/support/run.mjs test/transport/support/throughput-probe.ts --size 1200 --loss 0.05 [--mode fixed] [--seconds 3]
 *   add --profile DIR to write a .cpuprofile of each side (run under flock /tmp/skein-heavy.lock)
 */
import { fork } from 'node:child_process';
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Endpoint } from '../../../transport/endpoint.js';
import { createLossModel } from '../../../transport/loss/index.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
const size = Number(args.get('size') ?? 1200);
const seconds = Number(args.get('seconds') ?? 3);
const loss = Number(args.get('loss') ?? 0);
const mode = (args.get('mode') ?? 'fixed') as 'fixed' | 'newreno';
const profileDir = args.get('profile');
const fixedWindowBytes = args.has('window') ? Number(args.get('window')) : undefined;
const messageBytes = 65_536;

async function profiled<T>(name: string, body: () => Promise<T>): Promise<T> {
  if (profileDir === undefined) return body();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await body();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(join(profileDir, `${name}.cpuprofile`), JSON.stringify(profile));
  }
}

async function receiver(): Promise<void> {
  const endpoint = await Endpoint.open({ host: '127.0.0.1', acceptConnections: true, datagramBytes: size, congestion: mode, loss: null });
  let bytes = 0;
  let firstMs = 0;
  let lastMs = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => (done = resolve));
  endpoint.onConnection((connection) => {
    connection.setMessageHandler((message) => {
      lastMs = performance.now();
      if (bytes === 0) firstMs = lastMs;
      bytes += message.length;
    });
    connection.onClose(() => done());
  });
  process.send!({ port: endpoint.address.port });
  await profiled('receiver', () => finished);
  const mbps = bytes / ((lastMs - firstMs) * 1000);
  process.send!({ bytes, mbps, stats: endpoint.stats() });
  await endpoint.close();
}

async function sender(port: number): Promise<void> {
  const model = loss > 0 ? createLossModel({ loss, seed: 1 }) : null;
  const endpoint = await Endpoint.open({ host: '127.0.0.1', datagramBytes: size, congestion: mode, fixedWindowBytes, loss: model });
  const connection = await endpoint.connect({ host: '127.0.0.1', port });
  const message = new Uint8Array(messageBytes).fill(7);
  await profiled('sender', async () => {
    const endMs = performance.now() + seconds * 1000;
    while (performance.now() < endMs) await connection.send(message);
    await connection.close();
  });
  process.send!({ stats: connection.stats() });
  await endpoint.close();
}

const role = process.env.PROBE_ROLE;
if (role === 'receiver') await receiver();
else if (role === 'sender') await sender(Number(process.env.PROBE_PORT));
else {
  const spawn = (name: string, env: Record<string, string>) => fork(process.argv[1]!, process.argv.slice(2), { env: { ...process.env, PROBE_ROLE: name, ...env } });
  const receiving = spawn('receiver', {});
  const messages: unknown[] = [];
  const { port } = await new Promise<{ port: number }>((resolve) => receiving.once('message', (m) => resolve(m as { port: number })));
  const sending = spawn('sender', { PROBE_PORT: String(port) });
  sending.on('message', (m) => messages.push(m));
  const report = await new Promise<{ bytes: number; mbps: number; stats: { packetsReceived: number; packetsSent: number } }>((resolve) =>
    receiving.on('message', (m) => resolve(m as never)),
  );
  await new Promise((resolve) => sending.once('exit', resolve));
  const sent = (messages[0] as { stats: Record<string, number> }).stats;
  console.log(
    JSON.stringify({
      size,
      loss,
      mode,
      goodputMBps: Math.round(report.mbps * 10) / 10,
      senderPackets: sent.packetsSent,
      senderLost: sent.packetsLost,
      senderAcksReceived: sent.packetsReceived,
      receiverAckPackets: report.stats.packetsSent,
      rttSmoothedMs: sent.rttSmoothedMs,
      probes: sent.probesSent,
      kernelDrops: (report.stats as unknown as { drops: { kernelReceiveBuffer: number | null } }).drops.kernelReceiveBuffer,
    }),
  );
}
