import { describe, expect, it } from 'vitest';
import { resolveEndpointSettings } from '../../../transport/core/endpoint-settings.js';
import { transportLimits } from '../../../transport/limits.js';

describe('endpoint settings', () => {
  it("sizes the fixed window in datagrams, up to a ceiling: a Node receiver's cost is per packet", () => {
    expect(resolveEndpointSettings({ datagramBytes: 1200 }).fixedWindowBytes).toBe(transportLimits.fixedWindowPacketsDefault * 1200);
    expect(resolveEndpointSettings({ datagramBytes: 8192 }).fixedWindowBytes).toBe(transportLimits.fixedWindowBytesDefault);
    // A window given explicitly is kept as given.
    expect(resolveEndpointSettings({ datagramBytes: 1200, fixedWindowBytes: 4 << 20 }).fixedWindowBytes).toBe(4 << 20);
  });

  it('refuses a fixed window smaller than two datagrams', () => {
    expect(() => resolveEndpointSettings({ datagramBytes: 1200, fixedWindowBytes: 1000 })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
  });

  it('takes a dead-peer timeout from 0 (off, the default) to a day, and refuses anything else', () => {
    expect(resolveEndpointSettings({}).deadPeerTimeoutMs).toBe(0);
    expect(resolveEndpointSettings({ deadPeerTimeoutMs: 24 * 3600 * 1000 }).deadPeerTimeoutMs).toBe(24 * 3600 * 1000);
    for (const bad of [-1, 24 * 3600 * 1000 + 1, 1.5, Number.NaN]) {
      expect(() => resolveEndpointSettings({ deadPeerTimeoutMs: bad })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringMatching(/^deadPeerTimeoutMs must be an integer/) }));
    }
  });
});
