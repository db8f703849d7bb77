/** An item the heap can hold: it remembers its own slot so its deadline can move in O(log n). */
export interface HeapItem {
  heapIndex: number;
  heapDeadlineMs: number;
}

/**
 * A binary min-heap of items by deadline, indexed so an item's deadline can
 * be changed or removed in O(log n). The endpoint keeps one entry per
 * connection, so its single timer is always the earliest deadline of all.
 */
export class DeadlineHeap<T extends HeapItem> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  /** The earliest deadline, or Infinity. */
  get earliestMs(): number {
    return this.items.length === 0 ? Infinity : this.items[0]!.heapDeadlineMs;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  /** Inserts, moves or (for Infinity) removes `item`. */
  set(item: T, deadlineMs: number): void {
    if (deadlineMs === Infinity) {
      this.remove(item);
      item.heapDeadlineMs = Infinity;
      return;
    }
    if (item.heapIndex < 0) {
      item.heapDeadlineMs = deadlineMs;
      item.heapIndex = this.items.length;
      this.items.push(item);
      this.up(item.heapIndex);
      return;
    }
    const before = item.heapDeadlineMs;
    item.heapDeadlineMs = deadlineMs;
    if (deadlineMs < before) this.up(item.heapIndex);
    else if (deadlineMs > before) this.down(item.heapIndex);
  }

  remove(item: T): void {
    const index = item.heapIndex;
    if (index < 0) return;
    const last = this.items.pop()!;
    item.heapIndex = -1;
    if (last === item) return;
    this.items[index] = last;
    last.heapIndex = index;
    this.up(index);
    this.down(last.heapIndex);
  }

  private up(index: number): void {
    const items = this.items;
    const item = items[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = items[parentIndex]!;
      if (parent.heapDeadlineMs <= item.heapDeadlineMs) break;
      items[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    items[index] = item;
    item.heapIndex = index;
  }

  private down(index: number): void {
    const items = this.items;
    const count = items.length;
    const item = items[index]!;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= count) break;
      const right = left + 1;
      const child = right < count && items[right]!.heapDeadlineMs < items[left]!.heapDeadlineMs ? right : left;
      if (items[child]!.heapDeadlineMs >= item.heapDeadlineMs) break;
      items[index] = items[child]!;
      items[index]!.heapIndex = index;
      index = child;
    }
    items[index] = item;
    item.heapIndex = index;
  }
}
