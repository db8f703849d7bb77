/**
 * The module mocks of a test on the simulated world (see cluster.test.ts for
 * why each one), as factories a test's vi.mock calls reach with a dynamic
 * import. Deliberately import-free: a factory that imports a module of the
 * graph being loaded can deadlock vitest's loader; this one only reads the
 * hooks cluster/hooks.ts puts on globalThis, at call time.
 */
type Fn = (...args: never[]) => unknown;
type Hooks = Record<'dgram' | 'crypto' | 'fs' | 'fsPromises', Record<string, Fn>>;

const names = {
  dgram: ['createSocket'],
  crypto: ['randomFillSync', 'randomBytes', 'randomInt'],
  fs: ['fdatasync', 'fdatasyncSync', 'fsyncSync'],
  fsPromises: ['open', 'readFile', 'rename', 'unlink'],
} as const;

/** `original` (the real module, or nothing) with the simulated functions of `which` in place, as named and default exports. */
export function simulated(which: keyof Hooks, original: object = {}): Record<string, unknown> {
  const hooks = (): Hooks => (globalThis as Record<string, unknown>).__skeinSimulationHooks as Hooks;
  const overrides = Object.fromEntries(names[which].map((name) => [name, (...args: never[]) => hooks()[which][name]!(...args)]));
  return { ...original, ...overrides, default: { ...original, ...overrides } };
}
