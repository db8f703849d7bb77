import { Prng } from '../../transport/core/prng.js';

/** Size of message `index` of a stream: mostly up to 40 KB (many datagrams each), with empty and one-byte ones mixed in. */
export function messageSize(seed: number, index: number): number {
  const prng = new Prng((seed * 7919 + index) >>> 0);
  const pick = prng.next();
  if (pick < 0.05) return 0;
  if (pick < 0.1) return 1;
  return prng.int(2, 40_000);
}

/** Message `index` of the stream `seed`: its bytes depend on both, so a duplicate or a swap cannot pass for the expected one. */
export function expectedMessage(seed: number, index: number): Uint8Array {
  const bytes = messageSize(seed, index);
  const out = new Uint8Array(bytes);
  const prng = new Prng((seed * 104_729 + index * 31) >>> 0);
  for (let i = 0; i < bytes; i++) out[i] = prng.nextUint32() & 0xff;
  return out;
}

/** Checks that messages arrive as the stream `seed` in order, each once. */
export class MessageChecker {
  received = 0;
  errors: string[] = [];
  onComplete: (() => void) | null = null;

  constructor(
    private readonly seed: number,
    private readonly count: number,
  ) {}

  check(message: Uint8Array): void {
    const index = this.received++;
    if (index >= this.count) {
      this.errors.push(`message ${index} is beyond the ${this.count} sent (a duplicate?)`);
      return;
    }
    const expected = expectedMessage(this.seed, index);
    if (!Buffer.from(message.buffer, message.byteOffset, message.byteLength).equals(Buffer.from(expected))) {
      if (this.errors.length < 20) this.errors.push(`message ${index}: ${message.byteLength} bytes differ from the expected ${expected.byteLength}`);
    }
    if (this.received === this.count) this.onComplete?.();
  }
}
