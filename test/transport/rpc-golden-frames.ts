import type { Frame } from '../../transport/rpc/index.js';

/**
 * The frames pinned by test/fixtures/rpc-envelope.golden.json. Changing how
 * any of them encodes is a wire change: old peers would misread new frames.
 */
export const goldenFrames: Record<string, Frame> = {
  requestWithDeadline: {
    kind: 'request',
    id: 1,
    method: 'produce',
    body: { topic: 'orders', partition: 3, acks: 'all', batch: new Uint8Array([0xde, 0xad, 0xbe, 0xef]) },
    timeoutMs: 30_000,
  },
  requestWithoutDeadline: { kind: 'request', id: 0xffff_ffff, method: 'metadata', body: null },
  response: {
    kind: 'response',
    id: 7,
    body: { highWatermark: 2 ** 40, ratio: 0.25, delta: -3, name: 'ünïcødé', empty: new Uint8Array(0), flags: [true, false, null] },
  },
  error: { kind: 'error', id: 8, error: { code: 'NOT_LEADER', message: 'ask broker 2', details: { leaderId: 2, leaderEpoch: 5 } } },
  notify: { kind: 'notify', method: 'push', body: { subscription: 5, batches: [new Uint8Array([1, 2, 3])] } },
  cancel: { kind: 'cancel', id: 9 },
};
