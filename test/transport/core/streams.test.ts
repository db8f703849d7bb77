import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Prng } from '../../../transport/core/prng.js';
import { receiveResult, ReceiveStream } from '../../../transport/core/receive-stream.js';
import { SendStream } from '../../../transport/core/send-stream.js';
import { transportLimits } from '../../../transport/limits.js';
import { randomMessage } from '../support/transfer.js';

const config = { windowBytes: 1 << 20, messageBytesMax: 1 << 19, fragmentsMax: 100_000, queuedMessagesMax: 100_000, preallocateBytesMax: 1000, paceBytes: 0 };

/** Encodes messages the way the sender does, and cuts the stream into fragments of `size` bytes. */
function streamOf(messages: Uint8Array[], chunkBytes = 256): Uint8Array {
  const send = new SendStream(1 << 24, chunkBytes);
  for (const m of messages) expect(send.tryWrite(m)).toBe(true);
  const out = new Uint8Array(send.writeOffset);
  send.copyOut(0, send.writeOffset, out, 0);
  return out;
}

function drain(receive: ReceiveStream): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let m = receive.poll(); m !== null; m = receive.poll()) out.push(m.slice());
  return out;
}

describe('ReceiveStream', () => {
  it('reassembles messages under any permutation, duplication and overlap of fragments', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.nat(40), fc.nat(3000)), { minLength: 1, maxLength: 25 }),
        fc.integer({ min: 8, max: 700 }),
        fc.nat(),
        (sizes, fragmentBytes, seed) => {
          const prng = new Prng(seed);
          const messages = sizes.map((n) => randomMessage(prng, n));
          const stream = streamOf(messages);
          const fragments: [number, number][] = [];
          for (let off = 0; off < stream.length; off += fragmentBytes) fragments.push([off, Math.min(stream.length, off + fragmentBytes)]);
          // Duplicates and overlapping re-sends of random spans.
          for (let i = 0; i < fragments.length / 2; i++) {
            const a = prng.int(0, stream.length - 1);
            fragments.push([a, Math.min(stream.length, a + prng.int(1, 2 * fragmentBytes))]);
          }
          for (let i = fragments.length - 1; i > 0; i--) {
            const j = prng.int(0, i);
            [fragments[i], fragments[j]] = [fragments[j]!, fragments[i]!];
          }
          const receive = new ReceiveStream(config);
          for (const [start, end] of fragments) expect(receive.receive(start, stream.subarray(start, end))).toBe(receiveResult.ok);
          const got = drain(receive);
          expect(got.length).toBe(messages.length);
          for (let i = 0; i < messages.length; i++) expect(Buffer.from(got[i]!).equals(Buffer.from(messages[i]!))).toBe(true);
          expect(receive.contiguousEnd).toBe(stream.length);
          expect(receive.fragmentsHeld).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('paced, credit moves as data arrives, at most paceBytes ahead of it, within the window', () => {
    const paceBytes = 8000;
    const receive = new ReceiveStream({ ...config, windowBytes: 40_000, messageBytesMax: 30_000, paceBytes });
    expect(receive.initialCredit()).toBe(paceBytes);
    const stream = streamOf([new Uint8Array(30_000)]);
    expect(receive.receive(0, stream.subarray(0, 1500))).toBe(receiveResult.ok);
    expect(receive.creditUpdateDue).toBe(false);
    expect(receive.receive(1500, stream.subarray(1500, 2000))).toBe(receiveResult.ok);
    // A quarter of the pace arrived: worth a MAX_DATA of what arrived plus the pace.
    expect(receive.creditUpdateDue).toBe(true);
    expect(receive.grantCredit()).toBe(2000 + paceBytes);
    // Data after a hole counts as arrived: the hole's repair does not hold up what follows it.
    expect(receive.receive(5000, stream.subarray(5000, 9000))).toBe(receiveResult.ok);
    expect(receive.grantCredit()).toBe(2000 + 4000 + paceBytes);
    expect(receive.receive(2000, stream.subarray(2000, 5000))).toBe(receiveResult.ok);
    expect(receive.grantCredit()).toBe(9000 + paceBytes);
    // A peer that predates pacing took the whole window from the handshake: sending within it is no violation.
    expect(receive.receive(9000, stream.subarray(9000))).toBe(receiveResult.ok);
    expect(receive.poll()?.length).toBe(30_000);
    expect(receive.grantCredit()).toBe(stream.length + paceBytes);
    // Unpaced: what the application took plus the window.
    receive.unpace();
    expect(receive.grantCredit()).toBe(stream.length + 40_000);
  });

  it('grants credit as the application takes messages, and refuses data beyond it', () => {
    const receive = new ReceiveStream({ ...config, windowBytes: 4000, messageBytesMax: 3000 });
    const stream = streamOf([new Uint8Array(1500), new Uint8Array(1500), new Uint8Array(1500)]);
    expect(receive.receive(0, stream.subarray(0, 3000))).toBe(receiveResult.ok);
    expect(receive.receive(3000, stream.subarray(3000, 4001))).toBe(receiveResult.flowViolation);
    expect(receive.creditUpdateDue).toBe(false);
    expect(receive.poll()?.length).toBe(1500);
    expect(receive.creditUpdateDue).toBe(true); // 1502 bytes freed ≥ a quarter of the window
    expect(receive.grantCredit()).toBe(1502 + 4000);
    expect(receive.receive(3000, stream.subarray(3000))).toBe(receiveResult.ok);
    expect(drain(receive).map((m) => m.length)).toEqual([1500, 1500]);
  });

  it('reports a length prefix above the message limit as a violation', () => {
    const receive = new ReceiveStream({ ...config, messageBytesMax: 100 });
    const stream = streamOf([new Uint8Array(101)]);
    expect(receive.receive(0, stream)).toBe(receiveResult.tooLarge);
  });

  it('reports a length prefix in a longer form than its value needs as a violation', () => {
    for (const prefix of [[0x40, 3], [0x80, 0, 0, 3], [0x80, 0, 0x3f, 0xff]]) {
      const receive = new ReceiveStream({ ...config, messageBytesMax: 1 << 20 });
      const stream = Uint8Array.from([...prefix, 1, 2, 3]);
      expect(receive.receive(0, stream), prefix.join(',')).toBe(receiveResult.malformed);
      expect(receive.queuedMessages).toBe(0);
    }
  });

  it('pauses parsing when the application stops taking messages, without losing bytes', () => {
    const receive = new ReceiveStream({ ...config, queuedMessagesMax: 3 });
    const messages = Array.from({ length: 10 }, (_, i) => new Uint8Array(i).fill(i));
    const stream = streamOf(messages);
    expect(receive.receive(0, stream)).toBe(receiveResult.ok);
    expect(receive.queuedMessages).toBe(3);
    expect(drain(receive).map((m) => m.length)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('refuses to hold more out-of-order pieces than its bound (the packet is dropped unacknowledged)', () => {
    const receive = new ReceiveStream({ ...config, fragmentsMax: 2 });
    const bytes = new Uint8Array(100);
    expect(receive.receive(10, bytes.subarray(0, 1))).toBe(receiveResult.ok);
    expect(receive.receive(20, bytes.subarray(0, 1))).toBe(receiveResult.ok);
    expect(receive.receive(30, bytes.subarray(0, 1))).toBe(receiveResult.noRoom);
  });
});

describe('SendStream', () => {
  it('keeps a bounded buffer, but always takes one message into an empty one', () => {
    const send = new SendStream(1000, 256);
    expect(send.tryWrite(new Uint8Array(600))).toBe(true);
    expect(send.tryWrite(new Uint8Array(600))).toBe(false);
    const big = new SendStream(1000, 256);
    expect(big.tryWrite(new Uint8Array(5000))).toBe(true);
    expect(big.bufferedBytes).toBe(5002);
  });

  it('resends lost ranges first, skipping what was acknowledged meanwhile, then new data within credit', () => {
    const send = new SendStream(1 << 20, 1024);
    send.tryWrite(new Uint8Array(3000));
    const ranges: [number, number, boolean][] = [];
    const take = (max: number, credit: number): boolean => {
      const ok = send.nextRange(max, credit);
      if (ok) ranges.push([send.rangeOffset, send.rangeLength, send.rangeIsResend]);
      return ok;
    };
    while (take(1000, 2500));
    expect(ranges).toEqual([
      [0, 1000, false],
      [1000, 1000, false],
      [2000, 500, false],
    ]);
    expect(send.isFlowBlocked(2500)).toBe(true);
    send.onAcked(1000, 1000);
    send.onLost(0, 1000);
    send.onLost(1000, 1000); // already acknowledged: nothing to resend
    send.onAcked(200, 100);
    ranges.length = 0;
    while (take(1000, 3002));
    expect(ranges).toEqual([
      [0, 200, true],
      [300, 700, true],
      [2500, 502, false],
    ]);
    send.onAcked(0, 200);
    expect(send.ackedOffset).toBe(300); // joins the range [200, 300) acknowledged earlier
    send.onAcked(300, 700);
    send.onAcked(2000, 1002);
    expect(send.ackedOffset).toBe(3002);
    expect(send.isSettled).toBe(true);
  });

  it('copies out byte-identical data across chunk boundaries', () => {
    const prng = new Prng(5);
    const messages = [10, 300, 0, 1000, 70_000, 5].map((n) => randomMessage(prng, n));
    const stream = streamOf(messages, 512);
    const send = new SendStream(1 << 24, 512);
    for (const m of messages) send.tryWrite(m);
    for (let i = 0; i < 200; i++) {
      const start = prng.int(0, stream.length - 1);
      const length = prng.int(0, stream.length - start);
      const out = new Uint8Array(length);
      send.copyOut(start, length, out, 0);
      expect(Buffer.from(out).equals(Buffer.from(stream.subarray(start, start + length)))).toBe(true);
    }
  });

  it('reuses a released chunk: request/response traffic allocates one chunk, not one per message', () => {
    const send = new SendStream(1 << 20, 4096);
    const prng = new Prng(11);
    const reference: Uint8Array[] = [];
    for (let i = 0; i < 1000; i++) {
      const message = randomMessage(prng, prng.int(0, 300));
      reference.push(message);
      expect(send.tryWrite(message)).toBe(true);
      const start = send.sentOffset;
      expect(send.nextRange(1 << 20, Infinity)).toBe(true);
      // The bytes handed out for a reused chunk are this message's, not a stale one's.
      const out = new Uint8Array(send.rangeLength);
      send.copyOut(send.rangeOffset, send.rangeLength, out, 0);
      expect(Buffer.from(out).equals(Buffer.from(streamOf([message])))).toBe(true);
      send.onAcked(start, send.rangeLength);
      expect(send.isSettled).toBe(true);
    }
    expect(send.chunksAllocated).toBe(1);
  });

  it('never lets a reused chunk overwrite bytes that may still be resent', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const prng = new Prng(seed);
        const send = new SendStream(1 << 16, 256);
        const messages: Uint8Array[] = [];
        for (let step = 0; step < 300; step++) {
          const roll = prng.int(0, 9);
          if (roll < 4) {
            const message = randomMessage(prng, prng.int(0, 400));
            if (send.tryWrite(message)) messages.push(message);
          } else if (roll < 7) {
            send.nextRange(prng.int(1, 300), Infinity);
          } else if (send.sentOffset > send.ackedOffset) {
            const offset = prng.int(send.ackedOffset, send.sentOffset - 1);
            const length = prng.int(1, send.sentOffset - offset);
            if (roll < 9) send.onAcked(offset, length);
            else send.onLost(offset, length);
          }
        }
        // Everything not yet acknowledged must still read back as written.
        const stream = streamOf(messages);
        const live = send.writeOffset - send.ackedOffset;
        const out = new Uint8Array(live);
        send.copyOut(send.ackedOffset, live, out, 0);
        return Buffer.from(out).equals(Buffer.from(stream.subarray(send.ackedOffset)));
      }),
      { numRuns: 300 },
    );
  });

  it(`keeps at most sendSpareChunksMax released chunks, and none larger than twice the chunk size`, () => {
    const chunkBytes = 1024;
    const spares = transportLimits.sendSpareChunksMax;
    const send = new SendStream(1 << 24, chunkBytes);
    const settle = (): void => {
      while (send.nextRange(1 << 20, Infinity));
      send.onAcked(0, send.writeOffset);
    };
    // spares + 2 chunk-sized messages in flight at once, all released together.
    for (let i = 0; i < spares + 2; i++) send.tryWrite(new Uint8Array(chunkBytes - 2));
    settle();
    expect(send.chunksAllocated).toBe(spares + 2);
    for (let i = 0; i < spares + 2; i++) send.tryWrite(new Uint8Array(chunkBytes - 2));
    // Only `spares` of them were kept: the rest are new.
    expect(send.chunksAllocated).toBe(spares + 2 + 2);
    settle();
    // A message over twice the chunk size gets its own chunk, which is not kept once released.
    send.tryWrite(new Uint8Array(2 * chunkBytes + 1));
    settle();
    const before = send.chunksAllocated;
    send.tryWrite(new Uint8Array(2 * chunkBytes + 1));
    expect(send.chunksAllocated).toBe(before + 1);
  });
});
