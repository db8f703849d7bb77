import { afterEach, describe, expect, it, vi } from 'vitest';
import { Skein } from '../../sdk/client.js';
import { groupLimits } from '../../transport/limits.js';

describe('group consumer options', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('an option refused by the consumer or the subscription leaves no timer behind (no auto-commit, no heartbeat)', async () => {
    vi.useFakeTimers();
    const skein = new Skein({ brokers: ['127.0.0.1:9'] });
    const before = vi.getTimerCount();
    expect(() => skein.consumer({ group: 'g', topic: 't', fetchBytesMax: 1 })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    expect(() => skein.subscribe({ group: 'g', topic: 't', handler: async () => {}, retry: { attemptsMax: 0 } })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    expect(vi.getTimerCount()).toBe(before);
    await skein.close();
  });

  it('inFlightMax: 1 to groupLimits.handlerInFlightMax handlers per partition', async () => {
    const skein = new Skein({ brokers: ['127.0.0.1:9'] });
    for (const inFlightMax of [0, groupLimits.handlerInFlightMax + 1, 1.5]) {
      expect(() => skein.subscribe({ group: 'g', topic: 't', handler: async () => {}, inFlightMax }), String(inFlightMax)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    }
    const widest = skein.subscribe({ group: 'g', topic: 't', handler: async () => {}, inFlightMax: groupLimits.handlerInFlightMax });
    await widest.close();
    await skein.close();
  });
});
