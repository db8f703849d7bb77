import { expect, it } from 'vitest';

// A fixture, not a test of the suite: test/process-check.test.ts runs it in a child vitest and expects the run to fail.
it('passes, while a timer throws', async () => {
  setTimeout(() => {
    throw new Error('process-check: an exception nobody catches');
  }, 1);
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(true).toBe(true);
});
