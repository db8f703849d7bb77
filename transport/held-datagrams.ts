import type { PeerAddress } from './core/address.js';

/** A datagram the loss model holds back (delay, jitter, reordering, a rate cap) until `dueMs`. */
export interface HeldDatagram {
  dueMs: number;
  seq: number;
  bytes: Uint8Array;
  peer: PeerAddress;
  direction: 'send' | 'receive';
}

/**
 * Datagrams delayed by the loss model, ordered by due time (then by arrival,
 * so equal delays keep their order). Bounded in bytes: a model asking for
 * more than `bytesMax` in flight loses the excess, counted apart from the
 * model's own drops.
 */
export class HeldDatagrams {
  private readonly items: HeldDatagram[] = [];
  private seq = 0;
  bytes = 0;
  dropped = 0;

  constructor(private readonly bytesMax: number) {}

  get nextDueMs(): number {
    return this.items.length === 0 ? Infinity : this.items[0]!.dueMs;
  }

  hold(dueMs: number, bytes: Uint8Array, peer: PeerAddress, direction: 'send' | 'receive'): void {
    if (this.bytes + bytes.length > this.bytesMax) {
      this.dropped++;
      return;
    }
    this.bytes += bytes.length;
    const item: HeldDatagram = { dueMs, seq: this.seq++, bytes, peer, direction };
    const items = this.items;
    let i = items.length;
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(item, items[parent]!)) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = item;
  }

  /** Removes and returns the earliest datagram if it is due by `nowMs`. */
  takeDue(nowMs: number): HeldDatagram | null {
    const items = this.items;
    if (items.length === 0 || items[0]!.dueMs > nowMs) return null;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= items.length) break;
        const right = left + 1;
        const child = right < items.length && before(items[right]!, items[left]!) ? right : left;
        if (!before(items[child]!, last)) break;
        items[i] = items[child]!;
        i = child;
      }
      items[i] = last;
    }
    this.bytes -= top.bytes.length;
    return top;
  }

  clear(): void {
    this.items.length = 0;
    this.bytes = 0;
  }
}

function before(a: HeldDatagram, b: HeldDatagram): boolean {
  return a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.seq < b.seq);
}
