import { fsOverrides, fsPromisesOverrides } from './disk.js';
import { cryptoOverrides } from './entropy.js';
import { simulatedDgram } from './network.js';

/**
 * What the test's module mocks call into. The mock factories reach these
 * through globalThis rather than importing them: a factory that imports a
 * module of the graph being loaded can deadlock vitest's module loader (it
 * did, intermittently).
 */
export interface SimHooks {
  dgram: typeof simulatedDgram;
  crypto: typeof cryptoOverrides;
  fs: typeof fsOverrides;
  fsPromises: typeof fsPromisesOverrides;
}

export const simHooksKey = '__skeinSimulationHooks';

(globalThis as Record<string, unknown>)[simHooksKey] = {
  dgram: simulatedDgram,
  crypto: cryptoOverrides,
  fs: fsOverrides,
  fsPromises: fsPromisesOverrides,
} satisfies SimHooks;
