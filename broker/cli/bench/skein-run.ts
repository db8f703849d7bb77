import { performance } from 'node:perf_hooks';
import type { Connection } from '../../../transport/connection.js';
import { Endpoint } from '../../../transport/endpoint.js';
import { createLossModel } from '../../../transport/loss/index.js';
import type { LossSide } from '../../../transport/loss/index.js';
import { LatencyRecorder, type LatencySummary } from './latency.js';
import { runServerAndClient, type RoleBody, type RoleLauncher } from './roles.js';

/**
 * skein connections between two processes on loopback: a sender pushing
 * sequence-numbered messages for a fixed time through a seeded loss model,
 * and a receiver that checks every message arrives once, in order, intact.
 */

export type CongestionMode = 'fixed' | 'newreno';
const host = '127.0.0.1';
/**
 * The sender keeps at most this much ahead of what the receiver acknowledged, or half a second of
 * its acknowledged rate if that is more. The transport keeps its default 32 MiB send buffer (a
 * smaller one costs 2-3x goodput at 30% loss, where holes at its head take several round trips to
 * repair); this bound only stops a point that delivers 0.3 MB/s (NewReno at 30% loss) from queueing
 * 32 MiB in its timed phase and draining it for two minutes afterwards.
 */
const aheadBytesMin = 4 * 1024 * 1024;
const aheadSeconds = 0.5;

export interface SkeinRunConfig {
  datagramBytes: number;
  messageBytes: number;
  seconds: number;
  mode: CongestionMode;
  lossRate: number;
  lossSide: LossSide;
  seed: number;
}

export interface SkeinRun {
  goodputMBps: number;
  delivered: number;
  deliveredBytes: number;
  duplicates: number;
  outOfOrder: number;
  /** Messages whose bytes did not match what the sender wrote. */
  corrupted: number;
  messagesSent: number;
  messageBytesSent: number;
  retransmittedBytes: number;
  packetsSent: number;
  packetsLost: number;
  /** Time from the first to the last delivered message at the receiver. */
  secondsMeasured: number;
  /** What the loss model did at the sender. */
  injectedDrops: number;
  /** Datagrams the receiver's kernel dropped because its socket buffer was full (Linux; null elsewhere): real loss. */
  receiverKernelDrops: number | null;
}

/** Header of every bench message: sequence number at the start and the end, the body filled with its low byte. */
/**
 * One reusable message per body byte value, stamped with the sequence: send()
 * copies a message before it resolves, so reuse is safe, and the sender spends
 * its time in the transport rather than filling 64 KiB per message.
 */
class BenchMessages {
  private readonly bodies: Uint8Array[] = [];
  constructor(private readonly bytes: number) {}

  next(sequence: number): Uint8Array {
    const fill = sequence & 0xff;
    let message = this.bodies[fill];
    if (message === undefined) {
      message = new Uint8Array(this.bytes).fill(fill);
      this.bodies[fill] = message;
    }
    const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
    view.setUint32(0, sequence);
    view.setUint32(this.bytes - 4, sequence);
    return message;
  }
}

/** Checks a bench message in O(1): both sequence copies and a body byte. Returns its sequence, or -1 if damaged. */
function checkBenchMessage(message: Uint8Array, expectedBytes: number): number {
  if (message.byteLength !== expectedBytes) return -1;
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const sequence = view.getUint32(0);
  if (view.getUint32(expectedBytes - 4) !== sequence) return -1;
  const middle = message[expectedBytes >> 1]!;
  return middle === (sequence & 0xff) ? sequence : -1;
}

const skeinReceiver: RoleBody<Pick<SkeinRunConfig, 'datagramBytes' | 'messageBytes' | 'mode'>> = async ({ config, send, next }) => {
  const endpoint = await Endpoint.open({ host, port: 0, acceptConnections: true, datagramBytes: config.datagramBytes, congestion: config.mode, lossModel: null });
  let delivered = 0;
  let deliveredBytes = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let corrupted = 0;
  let expected = 0;
  let firstMs = 0;
  let lastMs = 0;
  endpoint.onConnection((connection) => {
    connection.setMessageHandler((message) => {
      const now = performance.now();
      if (delivered === 0) firstMs = now;
      lastMs = now;
      delivered++;
      deliveredBytes += message.byteLength;
      const sequence = checkBenchMessage(message, config.messageBytes);
      if (sequence < 0) corrupted++;
      else if (sequence < expected) duplicates++;
      else {
        if (sequence > expected) outOfOrder++;
        expected = sequence + 1;
      }
    });
  });
  send({ type: 'ready', port: endpoint.address.port });
  await next('report');
  const kernelDrops = endpoint.stats().drops.kernelReceiveBuffer;
  send({ type: 'report', delivered, deliveredBytes, duplicates, outOfOrder, corrupted, firstMs, lastMs, kernelDrops });
  await endpoint.close();
};

const skeinSender: RoleBody<SkeinRunConfig & { port: number }> = async ({ config, send }) => {
  const lossModel =
    config.lossRate > 0 ? createLossModel({ loss: config.lossRate, side: config.lossSide, seed: config.seed }) : null;
  // A generous close timeout: at high loss the backlog drains slowly, and a cut-off close would look like lost messages.
  const endpoint = await Endpoint.open({ host, port: 0, datagramBytes: config.datagramBytes, congestion: config.mode, lossModel, closeTimeoutMs: 120_000 });
  const connection: Connection = await endpoint.connect({ host, port: config.port });
  const startMs = performance.now();
  const endMs = startMs + config.seconds * 1000;
  const messages = new BenchMessages(config.messageBytes);
  let sequence = 0;
  for (let now = startMs; now < endMs; now = performance.now()) {
    const queuedBytes = sequence * config.messageBytes;
    const unacknowledgedBytes = connection.bufferedBytes;
    const acknowledgedRate = (queuedBytes - unacknowledgedBytes) / Math.max((now - startMs) / 1000, 1e-3);
    if (unacknowledgedBytes > Math.max(aheadBytesMin, acknowledgedRate * aheadSeconds)) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      continue;
    }
    await connection.send(messages.next(sequence));
    sequence++;
  }
  // A graceful close returns once the receiver has acknowledged everything.
  await connection.close();
  const stats = connection.stats();
  send({
    type: 'sent',
    messagesSent: sequence,
    messageBytesSent: sequence * config.messageBytes,
    retransmittedBytes: stats.bytesRetransmitted,
    packetsSent: stats.packetsSent,
    packetsLost: stats.packetsLost,
    injectedDrops: lossModel === null ? 0 : lossModel.stats.dropped,
  });
  await endpoint.close();
};

export async function measureSkein(launcher: RoleLauncher, config: SkeinRunConfig): Promise<SkeinRun> {
  return runServerAndClient(
    launcher,
    { role: 'skein-receiver', config: { datagramBytes: config.datagramBytes, messageBytes: config.messageBytes, mode: config.mode } },
    // The drain after the timed phase can take a while at high loss; the bound is a safety net, not a measurement.
    { role: 'skein-sender', config, resultType: 'sent', timeoutMs: config.seconds * 1000 + 120_000 },
    async (sent, receiver) => {
      receiver.post({ type: 'report' });
      const report = await receiver.next('report', 30_000);
      const spanMs = Math.max((report.lastMs as number) - (report.firstMs as number), 1);
      return {
        goodputMBps: (report.deliveredBytes as number) / spanMs / 1000,
        delivered: report.delivered as number,
        deliveredBytes: report.deliveredBytes as number,
        duplicates: report.duplicates as number,
        outOfOrder: report.outOfOrder as number,
        corrupted: report.corrupted as number,
        messagesSent: sent.messagesSent as number,
        messageBytesSent: sent.messageBytesSent as number,
        retransmittedBytes: sent.retransmittedBytes as number,
        packetsSent: sent.packetsSent as number,
        packetsLost: sent.packetsLost as number,
        secondsMeasured: spanMs / 1000,
        injectedDrops: sent.injectedDrops as number,
        receiverKernelDrops: report.kernelDrops as number | null,
      };
    },
  );
}

// ---------------------------------------------------------------- round-trip latency

const skeinEcho: RoleBody<Record<string, never>> = async ({ send, next }) => {
  const endpoint = await Endpoint.open({ host, port: 0, acceptConnections: true, lossModel: null });
  endpoint.onConnection((connection) => {
    connection.setMessageHandler((message) => {
      connection.send(message).catch(() => undefined);
    });
  });
  send({ type: 'ready', port: endpoint.address.port });
  await next('stop');
  await endpoint.close();
};

const skeinPinger: RoleBody<{ port: number; messageBytes: number; count: number; lossRate: number; lossSide: LossSide; seed: number }> = async ({
  config,
  send,
}) => {
  const lossModel = config.lossRate > 0 ? createLossModel({ loss: config.lossRate, side: config.lossSide, seed: config.seed }) : null;
  const endpoint = await Endpoint.open({ host, port: 0, lossModel });
  const connection = await endpoint.connect({ host, port: config.port });
  const recorder = new LatencyRecorder();
  let answer: (() => void) | null = null;
  connection.setMessageHandler(() => answer?.());
  const payload = new Uint8Array(config.messageBytes).fill(7);
  // A short warm-up so the first samples do not measure JIT compilation.
  for (let i = 0; i < config.count + 50; i++) {
    const start = process.hrtime.bigint();
    await new Promise<void>((resolve) => {
      answer = resolve;
      connection.send(payload).catch(() => undefined);
    });
    if (i >= 50) recorder.record(Number(process.hrtime.bigint() - start) / 1000);
  }
  await connection.close();
  send({ type: 'latency', summary: recorder.summary() });
  await endpoint.close();
};

export async function measureSkeinLatency(
  launcher: RoleLauncher,
  options: { messageBytes: number; count: number; lossRate: number; lossSide: LossSide; seed: number },
): Promise<LatencySummary> {
  return runServerAndClient(
    launcher,
    { role: 'skein-echo', config: {} },
    { role: 'skein-pinger', config: options, resultType: 'latency', timeoutMs: options.count * 2000 + 60_000 },
    async (result) => result.summary as LatencySummary,
  );
}

export const skeinRoles = {
  'skein-receiver': skeinReceiver,
  'skein-sender': skeinSender,
  'skein-echo': skeinEcho,
  'skein-pinger': skeinPinger,
} as const;
