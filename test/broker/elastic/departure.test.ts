import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Departure } from '../../../broker/cluster/departure.js';
import type { MetadataState } from '../../../broker/cluster/metadata-state.js';
import { clusterLimits } from '../../../transport/limits.js';

/** How a broker learns it was decommissioned for good: its own metadata, or a peer asked on a schedule. */
function departure(state: { value: string | undefined }, answers: Array<string | null | Error>, linked?: (id: number) => boolean) {
  const asked: number[] = [];
  const gone: string[] = [];
  const metadata = { lifecycle: () => (state.value === undefined ? undefined : { state: state.value, storageId: null }) } as unknown as MetadataState;
  const d = new Departure({
    brokerId: 4,
    state: () => metadata,
    peers: () => [null, 1, 4, 2, 1],
    ask: async (to) => {
      asked.push(to);
      const answer = answers.shift() ?? 'active';
      if (answer instanceof Error) throw answer;
      return { state: answer };
    },
    onGone: (reason) => gone.push(reason),
    ...(linked === undefined ? {} : { linked }),
  });
  return { d, asked, gone };
}

describe('Departure', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('asks at start, then every departureCheckIdleEveryMs while its own metadata says active, the first broker named while it answers', async () => {
    const { d, asked, gone } = departure({ value: 'active' }, []);
    await vi.advanceTimersByTimeAsync(0);
    expect(asked).toEqual([1]);
    await vi.advanceTimersByTimeAsync(clusterLimits.departureCheckIdleEveryMs - 2 * clusterLimits.departureCheckEveryMs);
    expect(asked).toEqual([1]);
    await vi.advanceTimersByTimeAsync(2 * clusterLimits.departureCheckEveryMs);
    expect(asked).toEqual([1, 1]);
    expect(gone).toEqual([]);
    d.close();
  });

  it('asks every departureCheckEveryMs while being decommissioned, another broker after a failure, and leaves once told it is gone', async () => {
    const state = { value: 'decommissioning' as string | undefined };
    const { d, asked, gone } = departure(state, ['decommissioning', new Error('no answer'), 'gone']);
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(clusterLimits.departureCheckEveryMs);
    await vi.advanceTimersByTimeAsync(clusterLimits.departureCheckEveryMs);
    expect(asked).toEqual([1, 1, 2]);
    expect(gone).toEqual(['broker 2 says it was decommissioned']);
    expect(d.isGone()).toBe(true);
    // Once gone, nothing more is asked, and it leaves once.
    await vi.advanceTimersByTimeAsync(10 * clusterLimits.departureCheckEveryMs);
    d.metadataChanged();
    expect(asked).toHaveLength(3);
    expect(gone).toHaveLength(1);
  });

  it('asks only over links already up, and dials only after a departureCheckEveryMs with none up (a check must not shape the peer links)', async () => {
    const up = new Set<number>();
    const { d, asked } = departure({ value: 'decommissioning' }, [], (id) => up.has(id));
    await vi.advanceTimersByTimeAsync(0);
    expect(asked).toEqual([]);
    await vi.advanceTimersByTimeAsync(clusterLimits.departureCheckEveryMs);
    expect(asked).toEqual([1]);
    up.add(2);
    await vi.advanceTimersByTimeAsync(clusterLimits.departureCheckEveryMs);
    expect(asked).toEqual([1, 2]);
    d.close();
  });

  it('leaves at once when its own copy of the metadata says gone', async () => {
    const state = { value: 'decommissioning' as string | undefined };
    const { asked, gone } = departure(state, ['decommissioning']);
    await vi.advanceTimersByTimeAsync(0);
    state.value = 'gone';
    const before = asked.length;
    await vi.advanceTimersByTimeAsync(clusterLimits.departureCheckEveryMs);
    expect(gone).toEqual(['the metadata says it was decommissioned']);
    expect(asked).toHaveLength(before);
  });
});
