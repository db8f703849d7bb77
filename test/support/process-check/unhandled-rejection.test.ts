import { expect, it } from 'vitest';

// A fixture, not a test of the suite: test/process-check.test.ts runs it in a child vitest and expects the run to fail.
it('passes, while a promise nobody awaits rejects', async () => {
  void Promise.reject(new Error('process-check: a rejection nobody handles'));
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(true).toBe(true);
});
