import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SkeinError } from '../../transport/errors.js';
import { transportLimits } from '../../transport/limits.js';
import {
  createLossModel,
  formatLossSpec,
  lossModelFromEnv,
  normalizeLossSpec,
  parseLossSpec,
  type LossSide,
  type LossSpec,
} from '../../transport/loss/index.js';

function configError(action: () => unknown): SkeinError {
  try {
    action();
  } catch (error) {
    if (error instanceof SkeinError && error.code === 'INVALID_CONFIG') return error;
    throw new Error(`expected INVALID_CONFIG, got ${String(error)}`);
  }
  throw new Error('expected INVALID_CONFIG, nothing was thrown');
}

describe('parseLossSpec', () => {
  it('reads the example of the issue', () => {
    expect(parseLossSpec('loss=0.1,dup=0.01,reorder=0.05,delay=5ms,jitter=2ms,seed=7')).toEqual({
      loss: 0.1,
      duplicate: 0.01,
      reorder: 0.05,
      delayMs: 5,
      jitterMs: 2,
      seed: 7,
    });
  });

  it('reads every key and unit', () => {
    expect(
      parseLossSpec(
        ' loss=10% , ge.p=0.01,ge.r=0.25,ge.bad=0.9,ge.good=0.001,reorder=5%,reorder.delay=250us,delay=0.2s,jitter=1.5ms,' +
          'rate=10mbit,queue=64KiB,side=receive,seed=4294967295,blackhole=10.0.0.1:9000,blackhole.send=[::1]:9001,blackhole.receive=host:1,',
      ),
    ).toEqual({
      loss: 0.1,
      burst: { pGoodToBad: 0.01, pBadToGood: 0.25, lossBad: 0.9, lossGood: 0.001 },
      reorder: 0.05,
      reorderDelayMs: 0.25,
      delayMs: 200,
      jitterMs: 1.5,
      rateBitsPerSecond: 10e6,
      queueBytes: 65536,
      side: 'receive',
      seed: 4294967295,
      blackholes: [
        { peer: '10.0.0.1:9000', direction: 'both' },
        { peer: '[::1]:9001', direction: 'send' },
        { peer: 'host:1', direction: 'receive' },
      ],
    });
    const rates: [string, number][] = [
      ['1000bit', 1000],
      ['512kbit', 512e3],
      ['1Gbit', 1e9],
      ['1.5MB/s', 12e6],
      ['2MiB/s', 2 * 1024 * 1024 * 8],
      ['3KiB/s', 3 * 1024 * 8],
      ['100kB/s', 800e3],
      ['1GiB/s', 8 * 1024 ** 3],
      ['1gb/s', 8e9],
      ['2000B/s', 16000],
    ];
    for (const [text, bits] of rates) expect(parseLossSpec(`rate=${text}`).rateBitsPerSecond).toBe(bits);
    const sizes: [string, number][] = [
      ['1500B', 1500],
      ['2KB', 2000],
      ['1MiB', 1048576],
      ['1MB', 1e6],
    ];
    for (const [text, bytes] of sizes) expect(parseLossSpec(`rate=1mbit,queue=${text}`).queueBytes).toBe(bytes);
    expect(parseLossSpec('')).toEqual({});
    expect(parseLossSpec(' , ,')).toEqual({});
    expect(parseLossSpec('loss=1e-3').loss).toBe(0.001);
  });

  it('names the key and the value of every bad item', () => {
    const cases: [string, string, string][] = [
      ['lose=0.1', 'lose', '0.1'],
      ['loss=1.5', 'loss', '1.5'],
      ['loss=-0.1', 'loss', '-0.1'],
      ['loss=101%', 'loss', '101%'],
      ['loss=0.1x', 'loss', '0.1x'],
      ['loss=abc', 'loss', 'abc'],
      ['dup=2', 'dup', '2'],
      ['reorder=1.01', 'reorder', '1.01'],
      ['ge.p=7,ge.r=0.1', 'ge.p', '7'],
      ['ge.p=0.1,ge.r=0.1,ge.bad=1.2', 'ge.bad', '1.2'],
      ['ge.p=0.1,ge.r=0.1,ge.good=-1', 'ge.good', '-1'],
      ['delay=5', 'delay', '5'],
      ['delay=5sec', 'delay', '5sec'],
      ['delay=61s', 'delay', '61s'],
      ['jitter=2m', 'jitter', '2m'],
      ['reorder=0.1,reorder.delay=1h', 'reorder.delay', '1h'],
      ['rate=10', 'rate', '10'],
      ['rate=10mbps', 'rate', '10mbps'],
      ['rate=1bit', 'rate', '1bit'],
      ['rate=2000gbit', 'rate', '2000gbit'],
      ['rate=1mbit,queue=64', 'queue', '64'],
      ['rate=1mbit,queue=5MiB', 'queue', '5MiB'],
      ['rate=1mbit,queue=1.5B', 'queue', '1.5B'],
      ['rate=1mbit,queue=10pkt', 'queue', '10pkt'],
      ['side=sideways', 'side', 'sideways'],
      ['seed=-1', 'seed', '-1'],
      ['seed=1.5', 'seed', '1.5'],
      ['seed=4294967296', 'seed', '4294967296'],
      ['loss=0.1,loss=0.2', 'loss', '0.2'],
      ['loss=', 'loss', ''],
      ['blackhole=a b:1', 'blackhole', 'a b:1'],
      // Names every object has are not keys (they once read as a blackhole with a function for its direction).
      ['toString=10.0.0.1:9', 'toString', '10.0.0.1:9'],
      ['constructor=1', 'constructor', '1'],
    ];
    for (const [text, key, value] of cases) {
      const error = configError(() => parseLossSpec(text));
      expect([text, error.details]).toEqual([text, { key, value }]);
      expect(error.message).toContain(key);
      expect(error.message).toContain(JSON.stringify(value));
    }
  });

  it('refuses items that are not key=value, incomplete bursts and knobs without effect', () => {
    expect(configError(() => parseLossSpec('loss')).details).toEqual({ key: 'loss', value: '' });
    expect(configError(() => parseLossSpec('ge.p=0.1')).details).toMatchObject({ key: 'ge.r' });
    expect(configError(() => parseLossSpec('ge.r=0.1')).details).toMatchObject({ key: 'ge.p' });
    expect(configError(() => parseLossSpec('ge.bad=0.5')).details).toMatchObject({ key: 'ge.p' });
    expect(configError(() => parseLossSpec('queue=64KiB')).details).toMatchObject({ key: 'queue' });
    expect(configError(() => parseLossSpec('reorder.delay=5ms')).details).toMatchObject({ key: 'reorder.delay' });
    expect(configError(() => parseLossSpec(`loss=0.1,${'x'.repeat(transportLimits.lossSpecCharsMax)}`)).details).toMatchObject({ key: 'spec' });
    // The text bound keeps the number of blackholes from text low; a spec built in code meets the count bound.
    const tooMany = Array.from({ length: transportLimits.lossBlackholesMax + 1 }, (_, i) => ({ peer: `h${i}:1`, direction: 'both' as const }));
    expect(configError(() => normalizeLossSpec({ blackholes: tooMany })).details).toMatchObject({ key: 'blackhole' });
    expect(configError(() => parseLossSpec(`blackhole=${'h'.repeat(transportLimits.lossPeerCharsMax + 1)}`)).details).toMatchObject({
      key: 'blackhole',
    });
  });

  it('checks specs built in code by the same rules', () => {
    const bad: [LossSpec, string][] = [
      [{ loss: Number.NaN }, 'loss'],
      [{ loss: 2 }, 'loss'],
      [{ duplicate: -1 }, 'dup'],
      [{ reorder: 0.1, reorderDelayMs: -1 }, 'reorder.delay'],
      [{ reorderDelayMs: 1 }, 'reorder.delay'],
      [{ delayMs: Number.POSITIVE_INFINITY }, 'delay'],
      [{ jitterMs: 60_001 }, 'jitter'],
      [{ rateBitsPerSecond: 0 }, 'rate'],
      [{ queueBytes: 1000 }, 'queue'],
      [{ rateBitsPerSecond: 1e6, queueBytes: 0 }, 'queue'],
      [{ rateBitsPerSecond: 1e6, queueBytes: 1.5 }, 'queue'],
      [{ side: 'up' as LossSide }, 'side'],
      [{ seed: -1 }, 'seed'],
      [{ seed: 2 ** 32 }, 'seed'],
      [{ burst: { pGoodToBad: 0.1, pBadToGood: 2 } }, 'ge.r'],
      [{ blackholes: [{ peer: 'a=b', direction: 'both' }] }, 'blackhole'],
      [{ blackholes: [{ peer: 'a:1', direction: 'up' as LossSide }] }, 'blackhole'],
    ];
    for (const [spec, key] of bad) {
      expect([spec, configError(() => createLossModel(spec)).details?.key]).toEqual([spec, key]);
    }
  });

  it('never throws anything but INVALID_CONFIG on random text', () => {
    const alphabet = fc.constantFrom(...'loss=dup,reorder.delay=ge.p.r 0123456789.%msukbitMBKiB/-e'.split(''));
    const keyed = fc.tuple(fc.constantFrom('loss', 'dup', 'delay', 'rate', 'queue', 'ge.p', 'seed', 'side', 'blackhole', 'x'), fc.string({ maxLength: 8 }));
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: alphabet, maxLength: 60 }), fc.array(keyed).map((kv) => kv.map(([k, v]) => `${k}=${v}`).join(','))), (text) => {
        try {
          const spec = parseLossSpec(text);
          // Whatever parses must format back to the same spec.
          expect(parseLossSpec(formatLossSpec(spec))).toEqual(spec);
        } catch (error) {
          expect(error instanceof SkeinError && error.code === 'INVALID_CONFIG').toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

const probability = fc.oneof(fc.constantFrom(0, 1, 0.5, 0.1), fc.double({ min: 0, max: 1, noNaN: true }));
const duration = fc.oneof(fc.constantFrom(0, 5, 0.25), fc.double({ min: 0, max: transportLimits.lossDelayMsMax, noNaN: true }));
const peer = fc.stringMatching(/^[a-z0-9.:[\]]{1,20}$/);
const specArbitrary: fc.Arbitrary<LossSpec> = fc
  .record(
    {
      seed: fc.integer({ min: 0, max: 0xffff_ffff }),
      side: fc.constantFrom<LossSide>('send', 'receive', 'both'),
      loss: probability,
      burst: fc.record(
        { pGoodToBad: probability, pBadToGood: probability, lossBad: probability, lossGood: probability },
        { requiredKeys: ['pGoodToBad', 'pBadToGood'] },
      ),
      duplicate: probability,
      reorder: probability,
      delayMs: duration,
      jitterMs: duration,
      rateBitsPerSecond: fc.oneof(
        fc.integer({ min: 1, max: 1000 }).map((m) => m * 1e6),
        fc.double({ min: transportLimits.lossRateBitsPerSecondMin, max: transportLimits.lossRateBitsPerSecondMax, noNaN: true }),
      ),
      blackholes: fc.array(fc.record({ peer, direction: fc.constantFrom<LossSide>('send', 'receive', 'both') }), { maxLength: 4 }),
    },
    { requiredKeys: [] },
  )
  .chain((spec) =>
    fc.record({
      queueBytes: spec.rateBitsPerSecond === undefined ? fc.constant(undefined) : fc.option(fc.integer({ min: 1, max: transportLimits.lossQueueBytesMax }), { nil: undefined }),
      reorderDelayMs: spec.reorder === undefined ? fc.constant(undefined) : fc.option(duration, { nil: undefined }),
    }).map((extra) => {
      const out: LossSpec = { ...spec };
      if (extra.queueBytes !== undefined) out.queueBytes = extra.queueBytes;
      if (extra.reorderDelayMs !== undefined) out.reorderDelayMs = extra.reorderDelayMs;
      return out;
    }),
  );

describe('formatLossSpec', () => {
  it('round-trips every valid spec through the text form', () => {
    fc.assert(
      fc.property(specArbitrary, (spec) => {
        const text = formatLossSpec(spec);
        expect(parseLossSpec(text)).toEqual(normalizeLossSpec(spec));
        expect(formatLossSpec(parseLossSpec(text))).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  it('writes readable units', () => {
    expect(formatLossSpec({ rateBitsPerSecond: 10e6, queueBytes: 64 * 1024, delayMs: 5, reorder: 0.1, reorderDelayMs: 0.25 })).toBe(
      'reorder=0.1,reorder.delay=0.25ms,delay=5ms,rate=10mbit,queue=64KiB',
    );
    expect(formatLossSpec({})).toBe('');
  });
});

describe('lossModelFromEnv', () => {
  it('is null when SKEIN_LOSS is unset or blank', () => {
    expect(lossModelFromEnv({})).toBeNull();
    expect(lossModelFromEnv({ SKEIN_LOSS: '  ' })).toBeNull();
  });

  it('builds the model SKEIN_LOSS describes', () => {
    const model = lossModelFromEnv({ SKEIN_LOSS: 'loss=1,side=send,seed=3' })!;
    expect(model.spec).toEqual({ loss: 1, side: 'send', seed: 3 });
    expect(model.decide(0, 'p:1', 10, 'send')).toEqual([]);
  });

  it('names the variable, the key and the value of a bad spec', () => {
    const error = configError(() => lossModelFromEnv({ SKEIN_LOSS: 'loss=0.1,delay=5' }));
    expect(error.message).toMatch(/^SKEIN_LOSS: .*delay="5"/);
    expect(error.details).toEqual({ key: 'delay', value: '5' });
  });
});
