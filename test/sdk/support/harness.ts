import { Skein } from '../../../sdk/client.js';
import type { SkeinOptions } from '../../../sdk/options.js';
import { FakeCluster } from './fake-broker.js';

/** A client wired to a fake cluster over in-memory channels. */
export function fakeClient(cluster: FakeCluster, options: Partial<SkeinOptions> = {}): Skein {
  return new Skein({ brokers: cluster.bootstrap(), clientId: 'test', requestTimeoutMs: 2_000, deliveryTimeoutMs: 10_000, ...options }, { dial: cluster.dial });
}

/** Resolves once `condition` holds, checking at every macrotask turn; a safety net bounds it. */
export async function until(condition: () => boolean, what = 'condition', limitMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

export { FakeCluster };
