import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessCluster } from './broker/support/cluster.js';
import { bundleForChild } from './support/bundle.js';

/** The example scripts run as a reader would run them, against a real cluster, and do what they say. */
const run = promisify(execFile);
let cluster: InProcessCluster;

beforeAll(async () => {
  cluster = new InProcessCluster(3);
  await cluster.start();
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

async function example(name: string, args: string[]): Promise<string> {
  const script = await bundleForChild(`examples/${name}.ts`, `example-${name}`);
  const { stdout } = await run(process.execPath, [script, ...args], { env: { ...process.env, SKEIN_BROKERS: cluster.bootstrap.join(',') }, timeout: 60_000 });
  return stdout;
}

describe('examples', () => {
  it('produce, then read back with the pull and the push consumer', async () => {
    expect(await example('producer', ['--count', '500'])).toMatch(/produced 500 orders/);
    expect(await example('pull-consumer', ['--max', '500'])).toMatch(/read 500 orders worth \d+\.\d\d/);
    // Fewer records than --max: it stops once nothing new came for two seconds.
    expect(await example('pull-consumer', ['--max', '1000'])).toMatch(/read 500 orders worth \d+\.\d\d/);
    expect(await example('push-consumer', ['--max', '500'])).toMatch(/handled 500 orders/);
  }, 120_000);

  it('lossy-link: three brokers and the client on a 10% lossy link lose, duplicate and reorder nothing, a row as each rate completes', async () => {
    const out = await example('lossy-link', ['--rates', '0.1', '--records', '3000']);
    const [header, row] = out.trim().split('\n');
    expect(header!.trim().split(/\s{2,}/)).toEqual(['loss', 'produce msgs/s', 'consume msgs/s', 'delivered', 'duplicates', 'out of order']);
    const cells = row!.trim().split(/\s+/);
    expect([cells[0], ...cells.slice(3)]).toEqual(['10%', '3000', '0', '0']);
  }, 120_000);
});
