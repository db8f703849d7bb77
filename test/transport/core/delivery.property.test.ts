import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { messagePrefixBytesMax } from '../../../transport/core/send-stream.js';
import type { LossSpec } from '../../../transport/loss/index.js';
import { propertyParameters } from '../support/property.js';
import { runTransfer, type TransferScenario } from '../support/transfer.js';

/**
 * Exactly-once, in-order, byte-identical delivery on a simulated network with
 * random faults (loss 0-40 %, bursts, duplication, reordering, delay and
 * jitter, partitions that heal) and random message sizes, on virtual time.
 * Every case also checks that the connection survived.
 */

const lossSpec: fc.Arbitrary<LossSpec> = fc.record(
  {
    loss: fc.double({ min: 0, max: 0.4, noNaN: true }),
    duplicate: fc.double({ min: 0, max: 0.1, noNaN: true }),
    reorder: fc.double({ min: 0, max: 0.2, noNaN: true }),
    delayMs: fc.integer({ min: 0, max: 20 }),
    jitterMs: fc.integer({ min: 0, max: 5 }),
    burst: fc.record({ pGoodToBad: fc.double({ min: 0, max: 0.02, noNaN: true }), pBadToGood: fc.double({ min: 0.3, max: 1, noNaN: true }) }),
  },
  { requiredKeys: ['loss'] },
);

const smallSizes = fc.array(fc.oneof({ weight: 6, arbitrary: fc.nat(200) }, { weight: 3, arbitrary: fc.nat(4000) }, { weight: 1, arbitrary: fc.nat(70_000) }), {
  maxLength: 40,
});

function scenario(sizes: fc.Arbitrary<number[]>, backSizes: fc.Arbitrary<number[]>): fc.Arbitrary<TransferScenario> {
  return fc.record({
    seed: fc.nat(),
    forward: sizes,
    backward: backSizes,
    loss: lossSpec,
    latencyMs: fc.integer({ min: 0, max: 30 }),
    clientOptions: fc.record({
      congestion: fc.constantFrom('newreno' as const, 'fixed' as const),
      datagramBytes: fc.constantFrom(1200, 1500, 9000),
      fixedWindowBytes: fc.constantFrom(64 * 1024, 2 * 1024 * 1024),
      // Long enough that a handshake on a 40 % lossy link is a matter of time, not of luck.
      handshakeTimeoutMs: fc.constant(300_000),
    }),
    serverOptions: fc.record({
      congestion: fc.constantFrom('newreno' as const, 'fixed' as const),
      datagramBytes: fc.constantFrom(1200, 4000),
    }),
    blackholes: fc.array(fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 1, max: 4000 })), { maxLength: 2 }),
  });
}

function check(s: TransferScenario): void {
  // Virtual time is free: NewReno at 40 % loss with its window collapsed needs minutes for megabytes.
  const outcome = runTransfer({ ...s, timeLimitMs: 3_600_000 });
  expect(outcome.failure, `seed ${s.seed}`).toBeNull();
}

describe('delivery under random faults (simulated network and clock)', () => {
  it('many small and medium messages both ways: exactly once, in order, byte-identical', () => {
    fc.assert(fc.property(scenario(smallSizes, smallSizes), check), propertyParameters(2000));
  });

  it('large messages (up to several MiB) one way', () => {
    const large = fc.array(fc.oneof(fc.nat(2000), fc.integer({ min: 100_000, max: 4 * 1024 * 1024 })), { minLength: 1, maxLength: 4 });
    fc.assert(fc.property(scenario(large, fc.constant([])), check), propertyParameters(25));
  });

  it('closing gracefully with data still in flight delivers everything first', () => {
    fc.assert(
      fc.property(scenario(smallSizes, fc.constant([])), (s) =>
        check({ ...s, closeWhenQueued: true, clientOptions: { ...s.clientOptions, closeTimeoutMs: 600_000 } }),
      ),
      propertyParameters(500),
    );
  });
});

describe('the largest message', () => {
  it('goes through when both windows are the smallest the settings allow for it (the message and its longest prefix)', () => {
    const messageBytesMax = 64 * 1024;
    // resolveEndpointSettings accepts a window down to this; the connection once subtracted 9 and refused the message.
    const options = { messageBytesMax, receiveWindowBytes: messageBytesMax + messagePrefixBytesMax };
    const outcome = runTransfer({ seed: 5, forward: [messageBytesMax, 1, messageBytesMax], backward: [messageBytesMax], clientOptions: options, serverOptions: options });
    expect(outcome.failure).toBeNull();
  });
});
