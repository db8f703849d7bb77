/**
 * A first-in first-out queue on a growable ring, so the hot path neither
 * shifts arrays nor resets their length: slots are reused in place.
 */
export class Fifo<T> {
  private items: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(initialCapacity = 16) {
    this.items = new Array<T | undefined>(initialCapacity);
  }

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) % this.items.length] = item;
    this.count++;
  }

  /** The oldest item, or undefined when empty. */
  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.count--;
    return item;
  }

  /** Replaces the oldest item (the queue must not be empty). */
  replaceHead(item: T): void {
    this.items[this.head] = item;
  }

  private grow(): void {
    const old = this.items;
    const items = new Array<T | undefined>(Math.max(16, old.length * 2));
    for (let i = 0; i < this.count; i++) items[i] = old[(this.head + i) % old.length];
    this.items = items;
    this.head = 0;
  }
}
