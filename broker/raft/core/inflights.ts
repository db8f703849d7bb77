/**
 * The appends sent to one follower and not yet acknowledged, bounded in count
 * and bytes: the pipelining window. Each slot remembers the last index an
 * append carried; an acknowledgement up to index i frees every slot <= i.
 */
export class Inflights {
  private readonly lastIndexes: number[] = [];
  private readonly sizes: number[] = [];
  private bytes = 0;

  constructor(
    private readonly countMax: number,
    private readonly bytesMax: number,
  ) {}

  add(lastIndex: number, bytes: number): void {
    if (this.full()) throw new Error('raft: inflights.add on a full window');
    const previous = this.lastIndexes[this.lastIndexes.length - 1];
    if (previous !== undefined && lastIndex <= previous) throw new Error('raft: inflight indexes must increase');
    this.lastIndexes.push(lastIndex);
    this.sizes.push(bytes);
    this.bytes += bytes;
  }

  freeLE(index: number): void {
    let n = 0;
    while (n < this.lastIndexes.length && this.lastIndexes[n]! <= index) {
      this.bytes -= this.sizes[n]!;
      n++;
    }
    if (n > 0) {
      this.lastIndexes.splice(0, n);
      this.sizes.splice(0, n);
    }
  }

  full(): boolean {
    return this.lastIndexes.length >= this.countMax || this.bytes >= this.bytesMax;
  }

  get count(): number {
    return this.lastIndexes.length;
  }

  reset(): void {
    this.lastIndexes.length = 0;
    this.sizes.length = 0;
    this.bytes = 0;
  }
}
