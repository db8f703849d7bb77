import { defineConfig } from 'vitest/config';

// The package test (npm run test:package): apart from the suite, since it
// builds and packs the package first. Beside it, the suite's golden wire tests
// run again with cbor-x's native decoder off, as the package ships cbor-x
// (bundled without cbor-extract); the package test itself compares the
// packed codec with the development one, native decoder on.
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 240_000,
    projects: [
      { extends: true, test: { name: 'package', include: ['test/package/package.spec.ts'] } },
      {
        extends: true,
        test: {
          name: 'wire without cbor-extract',
          include: ['test/transport/rpc-frames.test.ts', 'test/protocol/record-batch.test.ts'],
          env: { CBOR_NATIVE_ACCELERATION_DISABLED: 'true' },
        },
      },
    ],
  },
});
