import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { transportLimits } from '../../../transport/limits.js';
import { LatencyRecorder, type LatencySummary } from './latency.js';
import { runServerAndClient, type RoleBody, type RoleLauncher } from './roles.js';

/**
 * The baseline: bare node:dgram between two processes on loopback, with the
 * same datagram size and the same socket buffers as skein asks for. It
 * measures what a Node receiver can take in, which is the ceiling for any
 * protocol written in Node on this machine.
 */

const host = '127.0.0.1';
/** Datagrams handed to one socket.send burst before yielding, and sends libuv may hold unfinished. */
const burstMax = 64;
const outstandingMax = 4096;

export interface RawSenderConfig {
  port: number;
  datagramBytes: number;
  seconds: number;
  /** 0 sends as fast as libuv takes datagrams. */
  rateBytesPerSecond: number;
}

export interface RawReceiverReport {
  type: 'report';
  datagrams: number;
  bytes: number;
  firstMs: number;
  lastMs: number;
}

async function openSocket(port = 0): Promise<Socket> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: transportLimits.socketBufferBytes, sendBufferSize: transportLimits.socketBufferBytes });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}

const rawReceiver: RoleBody<Record<string, never>> = async ({ send, next }) => {
  const socket = await openSocket();
  let datagrams = 0;
  let bytes = 0;
  let firstMs = 0;
  let lastMs = 0;
  socket.on('message', (message) => {
    const now = performance.now();
    if (datagrams === 0) firstMs = now;
    lastMs = now;
    datagrams++;
    bytes += message.length;
  });
  send({ type: 'ready', port: socket.address().port });
  await next('report');
  socket.close();
  send({ type: 'report', datagrams, bytes, firstMs, lastMs } satisfies RawReceiverReport);
};

const rawSender: RoleBody<RawSenderConfig> = async ({ config, send }) => {
  const socket = await openSocket();
  await new Promise<void>((resolve) => socket.connect(config.port, host, resolve));
  const payload = Buffer.alloc(config.datagramBytes, 0x5a);
  let sent = 0;
  let outstanding = 0;
  const onSent = (): void => {
    outstanding--;
  };
  const startMs = performance.now();
  const endMs = startMs + config.seconds * 1000;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      if (now >= endMs) {
        resolve();
        return;
      }
      let budget = burstMax;
      if (config.rateBytesPerSecond > 0) {
        const allowedBytes = (config.rateBytesPerSecond * (now - startMs)) / 1000;
        budget = Math.min(burstMax, Math.floor(allowedBytes / config.datagramBytes) - sent);
      }
      for (; budget > 0 && outstanding < outstandingMax; budget--) {
        outstanding++;
        sent++;
        socket.send(payload, onSent);
      }
      setImmediate(tick);
    };
    tick();
  });
  const elapsedMs = performance.now() - startMs;
  socket.close();
  send({ type: 'sent', datagrams: sent, bytes: sent * config.datagramBytes, elapsedMs });
};

export interface RawRun {
  receivedMBps: number;
  sentMBps: number;
  /** Datagrams the receiving kernel or process dropped: raw UDP has no recovery. */
  lossRate: number;
}

export async function measureRaw(launcher: RoleLauncher, options: Omit<RawSenderConfig, 'port'>): Promise<RawRun> {
  return runServerAndClient(
    launcher,
    { role: 'raw-receiver', config: {} },
    { role: 'raw-sender', config: options, resultType: 'sent', timeoutMs: options.seconds * 1000 + 30_000 },
    async (sent, receiver) => {
      // Let the receiver drain its socket buffer before asking.
      await new Promise((r) => setTimeout(r, 200));
      receiver.post({ type: 'report' });
      const report = (await receiver.next('report', 30_000)) as unknown as RawReceiverReport;
      const spanMs = Math.max(report.lastMs - report.firstMs, 1);
      return {
        receivedMBps: report.bytes / spanMs / 1000,
        sentMBps: (sent.bytes as number) / (sent.elapsedMs as number) / 1000,
        lossRate: 1 - report.datagrams / Math.max(sent.datagrams as number, 1),
      };
    },
  );
}

/**
 * The paced baseline: one unpaced probe finds what the receiver takes in (an
 * unpaced burst loses 10-40% in the kernel), then the sender is paced at 90%
 * of that, stepping down while the receiver still loses more than 2%. Never
 * fails: on a noisy machine it returns the best attempt with its loss rate,
 * which the report prints beside the figure.
 */
export async function measureRawPaced(
  launcher: RoleLauncher,
  options: { datagramBytes: number; seconds: number; onProgress?: (text: string) => void },
): Promise<RawRun & { rateBytesPerSecond: number }> {
  const probe = await measureRaw(launcher, { datagramBytes: options.datagramBytes, seconds: Math.min(1, options.seconds), rateBytesPerSecond: 0 });
  options.onProgress?.(`raw ${options.datagramBytes} B unpaced probe: ${probe.receivedMBps.toFixed(1)} MB/s received, ${(probe.lossRate * 100).toFixed(1)}% lost`);
  let rate = probe.receivedMBps * 1e6 * 0.9;
  let best: (RawRun & { rateBytesPerSecond: number }) | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    const run = await measureRaw(launcher, { datagramBytes: options.datagramBytes, seconds: options.seconds, rateBytesPerSecond: rate });
    options.onProgress?.(
      `raw ${options.datagramBytes} B paced at ${(rate / 1e6).toFixed(1)} MB/s: ${run.receivedMBps.toFixed(1)} MB/s received, ${(run.lossRate * 100).toFixed(2)}% lost`,
    );
    // Least loss first, then most received: a lossy run's figure is the receiver's ceiling, not a paced flow.
    if (best === null || run.lossRate < Math.max(best.lossRate, 0.02) || (run.lossRate <= 0.02 && run.receivedMBps > best.receivedMBps)) {
      best = { ...run, rateBytesPerSecond: rate };
    }
    if (run.lossRate <= 0.02) break;
    rate *= 0.85;
  }
  return best!;
}

// ---------------------------------------------------------------- round-trip latency

export interface PingConfig {
  port: number;
  messageBytes: number;
  count: number;
}

const rawEcho: RoleBody<Record<string, never>> = async ({ send, next }) => {
  const socket = await openSocket();
  socket.on('message', (message, from) => socket.send(message, from.port, from.address));
  send({ type: 'ready', port: socket.address().port });
  await next('stop');
  socket.close();
};

const rawPinger: RoleBody<PingConfig> = async ({ config, send }) => {
  const socket = await openSocket();
  await new Promise<void>((resolve) => socket.connect(config.port, host, resolve));
  const recorder = new LatencyRecorder();
  const payload = Buffer.alloc(config.messageBytes, 1);
  let lost = 0;
  for (let i = 0; i < config.count; i++) {
    const start = process.hrtime.bigint();
    const answered = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        socket.off('message', onMessage);
        resolve(false);
      }, 1000);
      const onMessage = (): void => {
        clearTimeout(timer);
        socket.off('message', onMessage);
        resolve(true);
      };
      socket.on('message', onMessage);
      socket.send(payload);
    });
    if (answered) recorder.record(Number(process.hrtime.bigint() - start) / 1000);
    else lost++;
  }
  socket.close();
  send({ type: 'latency', summary: recorder.summary(), lost });
};

export async function measureRawLatency(launcher: RoleLauncher, options: { messageBytes: number; count: number }): Promise<LatencySummary> {
  return runServerAndClient(
    launcher,
    { role: 'raw-echo', config: {} },
    { role: 'raw-pinger', config: options, resultType: 'latency', timeoutMs: options.count * 1000 + 30_000 },
    async (result) => result.summary as LatencySummary,
  );
}

export const rawRoles = {
  'raw-receiver': rawReceiver,
  'raw-sender': rawSender,
  'raw-echo': rawEcho,
  'raw-pinger': rawPinger,
} as const;
