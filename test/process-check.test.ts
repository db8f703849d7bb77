import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BrokerProcesses } from './integration/support/processes.js';
import { projectRoot } from './support/root.js';

/**
 * No test run may hide an unhandled rejection or an uncaught exception: the
 * vitest run fails on one in the test process (vitest.config.ts), and a
 * spawned broker that dies of one fails the test that ran it
 * (BrokerProcesses.close). Each check is run against a fixture that does it.
 */
const root = projectRoot();
const fixtures = join(root, 'test', 'support', 'process-check');

function childVitest(file: string): { status: number | null; output: string } {
  const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
  const run = spawnSync(process.execPath, [vitest, 'run', '--reporter=dot', join(fixtures, file)], {
    cwd: root,
    env: { ...process.env, SKEIN_PROCESS_CHECK: '1', CI: 'true' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('the vitest run', () => {
  it('fails on an unhandled rejection, though every test passed', () => {
    const run = childVitest('unhandled-rejection.test.ts');
    expect(run.output).toContain('process-check: a rejection nobody handles');
    expect(run.output).toMatch(/1 passed/);
    expect(run.status).not.toBe(0);
  });

  it('fails on an uncaught exception, though every test passed', () => {
    const run = childVitest('uncaught-exception.test.ts');
    expect(run.output).toContain('process-check: an exception nobody catches');
    expect(run.status).not.toBe(0);
  });
});

describe('spawned brokers', () => {
  it('a broker process that dies of an unhandled rejection fails the test, with its last words', async () => {
    const processes = new BrokerProcesses(join(fixtures, 'dies.mjs'), { size: 1 });
    await processes.startAll();
    const died = new Promise((resolve) => processes.children.get(1)!.once('close', resolve));
    await died;
    await expect(processes.close()).rejects.toThrow(/broker 1 exited \(1\) without being stopped[\s\S]*process-check: a broker rejection nobody handles/);
  });

  it('a broker killed by the test is no failure', async () => {
    const processes = new BrokerProcesses(join(fixtures, 'dies.mjs'), { size: 1 });
    await processes.startAll();
    await processes.kill(1);
    await expect(processes.close()).resolves.toBeUndefined();
  });
});
