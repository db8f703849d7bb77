import { describe, expect, it } from 'vitest';
import { composeLossModels, createLossModel, LinkLossModel, type LossSpec } from '../../transport/loss/index.js';
import { transportLimits } from '../../transport/limits.js';
import { isSkeinError } from '../../transport/errors.js';

/** Runs `count` datagrams through a model, one every `intervalMs`, and returns each one's copies' delays. */
function run(model: LinkLossModel, count: number, options: { intervalMs?: number; bytes?: number } = {}): (readonly number[])[] {
  const out: (readonly number[])[] = [];
  for (let i = 0; i < count; i++) out.push(model.decide(i * (options.intervalMs ?? 1), '10.0.0.2:4000', options.bytes ?? 1200, 'send'));
  return out;
}

function runLengths(lost: readonly boolean[]): number[] {
  const lengths: number[] = [];
  let current = 0;
  for (const isLost of lost) {
    if (isLost) current++;
    else if (current > 0) {
      lengths.push(current);
      current = 0;
    }
  }
  return lengths;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('Bernoulli loss', () => {
  for (const [loss, seed] of [
    [0.01, 1],
    [0.1, 7],
    [0.3, 99],
  ] as const) {
    it(`drops ${loss * 100}% of datagrams (seed ${seed})`, () => {
      const model = createLossModel({ loss, seed });
      const n = 100_000;
      const results = run(model, n);
      const dropped = results.filter((d) => d.length === 0).length;
      // 5 standard deviations of a binomial count: a fixed seed makes this exact anyway.
      const tolerance = 5 * Math.sqrt(loss * (1 - loss) * n);
      expect(Math.abs(dropped - loss * n)).toBeLessThan(tolerance);
      expect(model.stats).toMatchObject({ datagrams: n, dropped, duplicated: 0, reordered: 0, queueDropped: 0, blackholed: 0 });
      // Losses are independent: the mean run of consecutive drops is 1/(1-p).
      const runs = runLengths(results.map((d) => d.length === 0));
      expect(mean(runs)).toBeCloseTo(1 / (1 - loss), 1);
    });
  }

  it('a perfect link delivers everything at once', () => {
    const model = createLossModel('');
    expect(run(model, 1000).every((d) => d.length === 1 && d[0] === 0)).toBe(true);
    expect(model.stats.delayed).toBe(0);
  });
});

describe('Gilbert-Elliott burst loss', () => {
  it('loses in bursts of mean length 1/r at the stationary rate p/(p+r)', () => {
    const pGoodToBad = 0.01;
    const pBadToGood = 0.25;
    const model = createLossModel({ burst: { pGoodToBad, pBadToGood }, seed: 3 });
    const n = 400_000;
    const lost = run(model, n).map((d) => d.length === 0);
    const rate = lost.filter(Boolean).length / n;
    expect(rate).toBeGreaterThan(0.9 * (pGoodToBad / (pGoodToBad + pBadToGood)));
    expect(rate).toBeLessThan(1.1 * (pGoodToBad / (pGoodToBad + pBadToGood)));
    const runs = runLengths(lost);
    expect(mean(runs)).toBeGreaterThan(0.9 / pBadToGood);
    expect(mean(runs)).toBeLessThan(1.1 / pBadToGood);
    // Geometric burst lengths: a quarter of the bursts end after one datagram.
    const single = runs.filter((r) => r === 1).length / runs.length;
    expect(single).toBeGreaterThan(0.2);
    expect(single).toBeLessThan(0.3);
    expect(Math.max(...runs)).toBeGreaterThan(10);
  });

  it('applies the per-state loss probabilities', () => {
    // Always bad, never leaving: the bad-state loss probability alone decides.
    const model = createLossModel({ burst: { pGoodToBad: 1, pBadToGood: 0, lossBad: 0.5, lossGood: 0 }, seed: 5 });
    const results = run(model, 100_001).slice(1);
    const rate = results.filter((d) => d.length === 0).length / results.length;
    expect(rate).toBeGreaterThan(0.49);
    expect(rate).toBeLessThan(0.51);
    // Never bad: the good-state probability alone decides.
    const good = createLossModel({ burst: { pGoodToBad: 0, pBadToGood: 1, lossGood: 0.2 }, seed: 5 });
    const goodRate = run(good, 100_000).filter((d) => d.length === 0).length / 100_000;
    expect(goodRate).toBeGreaterThan(0.19);
    expect(goodRate).toBeLessThan(0.21);
  });
});

describe('duplication, reordering, delay and jitter', () => {
  it('duplicates the asked fraction, both copies at the same time', () => {
    const model = createLossModel({ duplicate: 0.05, delayMs: 3, seed: 11 });
    const results = run(model, 100_000);
    const doubled = results.filter((d) => d.length === 2);
    expect(doubled.length / 100_000).toBeGreaterThan(0.045);
    expect(doubled.length / 100_000).toBeLessThan(0.055);
    expect(doubled.every((d) => d[0] === 3 && d[1] === 3)).toBe(true);
    expect(model.stats.duplicated).toBe(doubled.length);
  });

  it('reorder holds datagrams back so later ones overtake them', () => {
    const model = createLossModel({ reorder: 0.05, reorderDelayMs: 10, seed: 13 });
    const n = 20_000;
    const arrivals = run(model, n, { intervalMs: 1 }).map((d, i) => ({ i, at: i + d[0]! }));
    const held = arrivals.filter((a) => a.at > a.i);
    expect(held.length / n).toBeGreaterThan(0.04);
    expect(held.length / n).toBeLessThan(0.06);
    expect(model.stats.reordered).toBe(held.length);
    arrivals.sort((a, b) => a.at - b.at || a.i - b.i);
    let overtaken = 0;
    for (let k = 1; k < arrivals.length; k++) if (arrivals[k]!.i < arrivals[k - 1]!.i) overtaken++;
    // Every held datagram not itself followed by another held one arrives after later-sent ones.
    expect(overtaken).toBeGreaterThan(held.length * 0.8);
  });

  it('delay + jitter stays within bounds, averages the delay, and never reorders by itself', () => {
    const model = createLossModel({ delayMs: 20, jitterMs: 5, seed: 17 });
    const n = 50_000;
    const delays = run(model, n, { intervalMs: 5 }).map((d) => d[0]!);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(15);
    expect(Math.max(...delays)).toBeLessThanOrEqual(25);
    expect(mean(delays)).toBeGreaterThan(19.5);
    expect(mean(delays)).toBeLessThan(20.5);
    // Sent 0.1 ms apart, jitter would reorder freely; the in-order floor forbids it.
    const dense = createLossModel({ delayMs: 20, jitterMs: 5, seed: 17 });
    const arrivals = run(dense, n, { intervalMs: 0.1 }).map((d, i) => i * 0.1 + d[0]!);
    let inversions = 0;
    for (let k = 1; k < arrivals.length; k++) if (arrivals[k]! < arrivals[k - 1]! - 1e-9) inversions++;
    expect(inversions).toBe(0);
    expect(dense.stats.reordered).toBe(0);
    expect(dense.stats.delayed).toBe(n);
  });
});

describe('bandwidth cap with a bounded queue', () => {
  it('delivers at the capped rate under overload and tail-drops the excess', () => {
    // 8 mbit/s = 1000 B/ms; offered 2000 B/ms for 10 s.
    const model = createLossModel({ rateBitsPerSecond: 8e6, queueBytes: 64 * 1024, seed: 1 });
    const n = 20_000;
    const results = run(model, n, { intervalMs: 0.5, bytes: 1000 });
    const delivered = results.map((d, i) => ({ at: i * 0.5 + (d[0] ?? NaN), ok: d.length === 1 })).filter((a) => a.ok);
    const lastAt = Math.max(...delivered.map((a) => a.at));
    const throughputBytesPerMs = (delivered.length * 1000) / lastAt;
    expect(throughputBytesPerMs).toBeGreaterThan(990);
    expect(throughputBytesPerMs).toBeLessThan(1010);
    expect(model.stats.queueDropped).toBe(n - delivered.length);
    expect(model.stats.queueDropped / n).toBeGreaterThan(0.45);
    // Nothing waits longer than a full queue takes to drain plus its own transmission.
    const worstDelay = Math.max(...results.filter((d) => d.length === 1).map((d) => d[0]!));
    expect(worstDelay).toBeLessThanOrEqual((64 * 1024) / 1000 + 1);
  });

  it('under its rate only adds the transmission time', () => {
    const model = createLossModel({ rateBitsPerSecond: 8e6, seed: 1 });
    const results = run(model, 1000, { intervalMs: 2, bytes: 1000 });
    expect(results.every((d) => d.length === 1 && Math.abs(d[0]! - 1) < 1e-9)).toBe(true);
    expect(model.stats.queueDropped).toBe(0);
  });

  it('takes exactly what fits the queue from a burst', () => {
    const model = createLossModel({ rateBitsPerSecond: 8e6, queueBytes: 10_000, seed: 1 });
    const burst = Array.from({ length: 100 }, () => model.decide(0, 'p:1', 1000, 'send'));
    expect(burst.filter((d) => d.length === 1).length).toBe(10);
    expect(model.stats.queueDropped).toBe(90);
    // An idle link always takes one datagram, even one larger than the queue.
    const tiny = createLossModel({ rateBitsPerSecond: 8e6, queueBytes: 100 });
    expect(tiny.decide(0, 'p:1', 1000).length).toBe(1);
    expect(tiny.decide(0, 'p:1', 1000).length).toBe(0);
    expect(tiny.decide(1, 'p:1', 1000).length).toBe(1);
  });
});

describe('blackholes', () => {
  const peer = '10.0.0.9:7000';
  const other = '10.0.0.8:7000';

  it('cuts two-way or one-way, counts separately, and heals at run time', () => {
    const model = createLossModel({ seed: 1 });
    model.blackhole(peer);
    expect(model.decide(0, peer, 100, 'send')).toEqual([]);
    expect(model.decide(0, peer, 100, 'receive')).toEqual([]);
    expect(model.decide(0, other, 100, 'send')).toEqual([0]);
    model.heal(peer, 'send');
    expect(model.decide(0, peer, 100, 'send')).toEqual([0]);
    expect(model.decide(0, peer, 100, 'receive')).toEqual([]);
    model.heal(peer);
    expect(model.decide(0, peer, 100, 'receive')).toEqual([0]);
    model.blackhole(peer, 'send');
    expect(model.isBlackholed(peer, 'send')).toBe(true);
    expect(model.isBlackholed(peer, 'receive')).toBe(false);
    model.blackhole(other, 'receive');
    expect(model.decide(0, other, 100, 'receive')).toEqual([]);
    model.healAll();
    expect(model.decide(0, other, 100, 'receive')).toEqual([0]);
    expect(model.stats).toMatchObject({ blackholed: 4, dropped: 0, queueDropped: 0 });
  });

  it('starts with the spec blackholes and applies them whatever the side', () => {
    const model = createLossModel(`side=send,blackhole.receive=${peer},blackhole=${other}`);
    expect(model.decide(0, peer, 100, 'receive')).toEqual([]);
    expect(model.decide(0, peer, 100, 'send')).toEqual([0]);
    expect(model.decide(0, other, 100, 'send')).toEqual([]);
    expect(model.decide(0, other, 100, 'receive')).toEqual([]);
  });

  it('refuses bad peers and more blackholes than the limit', () => {
    const model = createLossModel({});
    expect(() => model.blackhole('')).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    expect(() => model.blackhole('a,b:1')).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    for (let i = 0; i < transportLimits.lossBlackholesMax; i++) model.blackhole(`10.1.${i >> 8}.${i & 255}:1`);
    model.blackhole('10.1.0.0:1', 'send'); // an existing peer is not a new one
    let error: unknown;
    try {
      model.blackhole('10.2.0.0:1');
    } catch (e) {
      error = e;
    }
    expect(isSkeinError(error, 'INVALID_ARGUMENT')).toBe(true);
  });
});

describe('sides, determinism and composition', () => {
  it('applies faults only on its side and passes the other unchanged and uncounted', () => {
    const model = createLossModel({ loss: 1, side: 'send' });
    expect(model.decide(0, 'p:1', 10, 'receive')).toEqual([0]);
    expect(model.decide(0, 'p:1', 10, 'send')).toEqual([]);
    expect(model.stats.datagrams).toBe(1);
    const receive = createLossModel({ loss: 1, side: 'receive' });
    expect(receive.decide(0, 'p:1', 10)).toEqual([0]);
    expect(receive.decide(0, 'p:1', 10, 'receive')).toEqual([]);
    const both = createLossModel({ loss: 1 });
    expect(both.side).toBe('both');
    expect(both.decide(0, 'p:1', 10, 'receive')).toEqual([]);
    expect(both.decide(0, 'p:1', 10, 'send')).toEqual([]);
  });

  const busy: LossSpec = {
    loss: 0.05,
    burst: { pGoodToBad: 0.02, pBadToGood: 0.3 },
    duplicate: 0.02,
    reorder: 0.05,
    delayMs: 4,
    jitterMs: 2,
    rateBitsPerSecond: 1e8,
    queueBytes: 32 * 1024,
  };

  it('replays the same decisions from the same seed and differs across seeds', () => {
    const trace = (seed: number): string =>
      JSON.stringify(run(createLossModel({ ...busy, seed }), 20_000, { intervalMs: 0.05 }).map((d) => d.map((x) => x.toFixed(6))));
    expect(trace(42)).toBe(trace(42));
    expect(trace(42)).not.toBe(trace(43));
  });

  it('keeps each fault on its own stream: adding duplication does not move the losses', () => {
    const lostIndices = (spec: LossSpec): number[] =>
      run(createLossModel(spec), 10_000)
        .map((d, i) => (d.length === 0 ? i : -1))
        .filter((i) => i >= 0);
    const base = lostIndices({ loss: 0.1, seed: 9 });
    expect(lostIndices({ loss: 0.1, duplicate: 0.2, reorder: 0.1, jitterMs: 1, delayMs: 2, seed: 9 })).toEqual(base);
    // The receive direction has its own streams: interleaving received datagrams leaves the send pattern alone.
    const model = createLossModel({ loss: 0.1, seed: 9 });
    const interleaved: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      model.decide(i, 'p:1', 100, 'receive');
      if (model.decide(i, 'p:1', 100, 'send').length === 0) interleaved.push(i);
    }
    expect(interleaved).toEqual(base);
  });

  it('composes models: each copy meets the next model at its delivery time', () => {
    const partition = createLossModel({});
    const lossy = createLossModel({ delayMs: 5, duplicate: 1, seed: 2 });
    const composed = composeLossModels(lossy, partition, createLossModel({ delayMs: 1 }));
    expect(composed.decide(0, 'p:1', 10, 'send')).toEqual([6, 6]);
    partition.blackhole('p:1');
    expect(composed.decide(0, 'p:1', 10, 'send')).toEqual([]);
    expect(composed.stats).toMatchObject({ datagrams: 2, duplicated: 2, blackholed: 2 });
    expect(composeLossModels(lossy)).toBe(lossy);
  });
});
