import { spawnSync } from 'node:child_process';
import { decodeFrame, encodeFrame, type Frame } from '../../transport/rpc/frames.js';

/**
 * The package bundles cbor-x without its native string extractor (cbor-extract),
 * so that installing skein needs no compiler. This measures what that costs on
 * the frames skein actually sends: each case is timed in a child process with
 * the extractor (as a development install loads it) and in one without (as the
 * package ships), and the ratio is printed. Medians of --runs runs.
 */

function frames(): Record<string, Frame> {
  const batch = (bytes: number) => new Uint8Array(bytes).map((_, i) => (i * 31) & 0xff);
  const produce = (bytes: number): Frame => ({
    kind: 'request', id: 4711, method: 'produce', timeoutMs: 30_000,
    body: { topic: 'orders', partition: 3, acks: 'all', batch: batch(bytes), timeoutMs: 30_000 },
  });
  const brokers = [1, 2, 3].map((id) => ({ id, host: '10.0.0.' + id, port: 9092 }));
  const topics = Array.from({ length: 20 }, (_, t) => ({
    name: `topic-${t}-events`, topicId: t + 1,
    partitions: Array.from({ length: 6 }, (_, p) => ({ partition: p, leader: (p % 3) + 1, leaderEpoch: 7, replicas: [1, 2, 3] })),
    config: { retentionMs: 604_800_000, retentionBytes: null, segmentBytes: 1 << 30, flush: { mode: 'always' } },
  }));
  return {
    'produce request, 1 KiB batch': produce(1024),
    'produce request, 64 KiB batch': produce(65_536),
    'metadata response, 20 topics x 6 partitions': {
      kind: 'response', id: 4712, body: { clusterId: 'skein', controllerId: 1, brokers, topics, missing: [] },
    },
  };
}

function medianNs(fn: () => void, iterations: number): number {
  const samples: number[] = [];
  for (let s = 0; s < 7; s++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn();
    samples.push(Number(process.hrtime.bigint() - start) / iterations);
  }
  return samples.sort((a, b) => a - b)[3]!;
}

/** Warms the code up and returns how many iterations take about 20 ms. */
function calibrate(fn: () => void): number {
  let iterations = 0;
  const start = process.hrtime.bigint();
  while (process.hrtime.bigint() - start < 200_000_000n) {
    fn();
    iterations++;
  }
  return Math.max(10, Math.round(iterations / 10));
}

function measure(): Record<string, { encodeNs: number; decodeNs: number }> {
  const out: Record<string, { encodeNs: number; decodeNs: number }> = {};
  for (const [name, frame] of Object.entries(frames())) {
    const bytes = encodeFrame(frame);
    const iterations = calibrate(() => decodeFrame(encodeFrame(frame)));
    out[name] = { encodeNs: medianNs(() => encodeFrame(frame), iterations), decodeNs: medianNs(() => decodeFrame(bytes), iterations) };
  }
  return out;
}

if (process.env.CBOR_BENCH_CHILD === '1') {
  process.stdout.write(JSON.stringify(measure()));
} else {
  const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] ?? 3) || 3;
  const results: Record<'native' | 'portable', Array<ReturnType<typeof measure>>> = { native: [], portable: [] };
  for (let r = 0; r < runs; r++) {
    for (const variant of ['native', 'portable'] as const) {
      const env = { ...process.env, CBOR_BENCH_CHILD: '1', CBOR_NATIVE_ACCELERATION_DISABLED: variant === 'portable' ? 'true' : 'false' };
      const child = spawnSync(process.execPath, process.argv.slice(1), { env, encoding: 'utf8' });
      if (child.status !== 0) throw new Error(child.stderr);
      results[variant].push(JSON.parse(child.stdout));
    }
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`median of ${runs} runs; µs per frame; ratio = without / with cbor-extract`);
  for (const name of Object.keys(results.native[0]!)) {
    for (const op of ['encodeNs', 'decodeNs'] as const) {
      const native = median(results.native.map((r) => r[name]![op])) / 1000;
      const portable = median(results.portable.map((r) => r[name]![op])) / 1000;
      console.log(`${name.padEnd(44)} ${op.slice(0, 6).padEnd(6)} with ${native.toFixed(2).padStart(7)}  without ${portable.toFixed(2).padStart(7)}  (${(portable / native).toFixed(2)})`);
    }
  }
}
