/**
 * A bounded fan-out of status events (nats.js style: an AsyncIterable of
 * tagged unions). Each reader gets its own queue of at most `capacity`
 * events; a reader that falls behind loses the oldest ones, and the count of
 * dropped events is visible, so a forgotten status reader never grows memory.
 */
export class StatusFeed<E> {
  private readonly readers = new Set<Reader<E>>();
  private ended = false;
  dropped = 0;

  constructor(private readonly capacity: number) {}

  emit(event: E): void {
    if (this.ended) return;
    for (const reader of this.readers) {
      if (reader.queue.length >= this.capacity) {
        reader.queue.shift();
        this.dropped++;
      }
      reader.queue.push(event);
      reader.wake?.();
    }
  }

  /** No more events: every reader finishes after draining its queue. */
  end(): void {
    this.ended = true;
    for (const reader of this.readers) reader.wake?.();
  }

  /** A new reader that sees events from now on. */
  iterate(): AsyncIterableIterator<E> {
    const reader: Reader<E> = { queue: [], wake: null };
    this.readers.add(reader);
    const feed = this;
    const iterator: AsyncIterableIterator<E> = {
      async next(): Promise<IteratorResult<E>> {
        for (;;) {
          const event = reader.queue.shift();
          if (event !== undefined) return { value: event, done: false };
          if (feed.ended || !feed.readers.has(reader)) return { value: undefined, done: true };
          await new Promise<void>((resolve) => (reader.wake = resolve));
          reader.wake = null;
        }
      },
      async return(): Promise<IteratorResult<E>> {
        feed.readers.delete(reader);
        reader.queue.length = 0;
        reader.wake?.();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }
}

interface Reader<E> {
  queue: E[];
  wake: (() => void) | null;
}
