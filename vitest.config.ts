import { configDefaults, defineConfig } from 'vitest/config';

/** The deliberately failing fixtures of test/process-check.test.ts, run only by that test in a child vitest. */
const processCheckFixtures = 'test/support/process-check/**';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: process.env.SKEIN_PROCESS_CHECK === '1' ? [...configDefaults.exclude] : [...configDefaults.exclude, processCheckFixtures],
    // Two cores: brokers in multi-process tests need the other one.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Vitest's default, stated because the suite relies on it: an unhandled rejection or uncaught exception
    // anywhere in a run (even after its test passed) fails the whole run. test/process-check.test.ts proves it.
    dangerouslyIgnoreUnhandledErrors: false,
    globalSetup: ['test/support/global-setup.ts'],
  },
});
