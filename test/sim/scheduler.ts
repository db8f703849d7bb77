/**
 * The simulated clock: a priority queue of events ordered by time, then by
 * the order they were scheduled, so a run is a pure function of its seed.
 */
export interface SimEvent {
  readonly time: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

export class Scheduler {
  now = 0;
  private seq = 0;
  private readonly heap: SimEvent[] = [];

  at(time: number, fn: () => void): SimEvent {
    const event: SimEvent = { time: Math.max(time, this.now), seq: this.seq++, fn, cancelled: false };
    this.push(event);
    return event;
  }

  after(delayMs: number, fn: () => void): SimEvent {
    return this.at(this.now + delayMs, fn);
  }

  get size(): number {
    return this.heap.length;
  }

  /** Removes and returns the next event, advancing the clock to it. */
  pop(): SimEvent | null {
    const top = this.heap[0];
    if (top === undefined) return null;
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
    this.now = top.time;
    return top;
  }

  peekTime(): number | null {
    return this.heap[0]?.time ?? null;
  }

  private less(a: SimEvent, b: SimEvent): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  private push(event: SimEvent): void {
    const h = this.heap;
    h.push(event);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
