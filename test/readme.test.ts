import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { bundledSkein } from './broker/cli/support.js';
import { clusterForFile, freePorts } from './broker/support/cluster.js';
import { bundleForChild } from './support/bundle.js';
import { projectRoot } from './support/root.js';

/**
 * The README's code, taken from README.md itself (so it cannot drift from
 * what is tested) and run against a real cluster. The only changes are the
 * addresses (the test cluster's, not 127.0.0.1:9092) and glue between
 * snippets that needs data the README leaves to the reader (`ship`,
 * `messages`, orders up to id 1000).
 */
const run = promisify(execFile);
const root = projectRoot();
const scratch = join(root, '.test-build', 'readme');
const cluster = clusterForFile(3);

interface Snippet {
  lang: string;
  code: string;
  /** The README heading it sits under. */
  section: string;
}

function snippets(): Snippet[] {
  const out: Snippet[] = [];
  let section = '';
  const lines = readFileSync(join(root, 'README.md'), 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const heading = /^#+ (.*)$/.exec(lines[i]!);
    if (heading !== null) section = heading[1]!;
    const fence = /^```(\w*)$/.exec(lines[i]!);
    if (fence === null) continue;
    const end = lines.indexOf('```', i + 1);
    out.push({ lang: fence[1]!, code: lines.slice(i + 1, end).join('\n'), section });
    i = end;
  }
  return out;
}

/** Swaps the README's addresses for the test cluster's; fails if a snippet no longer has them (the test would not be testing it). */
function onTestCluster(code: string): string {
  const pattern = /\['127\.0\.0\.1:9092'(, '127\.0\.0\.1:9093', '127\.0\.0\.1:9094')?\]/;
  expect(code).toMatch(pattern);
  return code.replace(pattern, JSON.stringify(cluster.bootstrap));
}

async function runScript(name: string, source: string, ext = 'ts'): Promise<{ stdout: string; stderr: string }> {
  mkdirSync(scratch, { recursive: true });
  const file = join(scratch, `${name}.${ext}`);
  writeFileSync(file, source);
  const script = await bundleForChild(file, `readme-${name}`);
  return run(process.execPath, [script], { timeout: 60_000 });
}

describe('README', () => {
  it('has the snippets this test runs, and no other (a new one needs a test here)', () => {
    expect(snippets().map((s) => `${s.section}: ${s.lang}`)).toEqual([
      'Quick start: sh', // npm install && npm start: the CLI tests run skein dev --demo
      'Quick start: sh', // poking at the cluster: run below
      'Installing the package: sh', // npm install skein: npm run test:package
      'A five-minute tour of the SDK: ts',
      'A five-minute tour of the SDK: js',
      'A five-minute tour of the SDK: ts',
      'A five-minute tour of the SDK: ts',
      'A five-minute tour of the SDK: ts',
      'A five-minute tour of the SDK: ts',
      'A five-minute tour of the SDK: ts', // consumer groups
      'A five-minute tour of the SDK: ts', // group admin
      'A five-minute tour of the SDK: ts',
      'A five-minute tour of the SDK: ts',
      'Running brokers: sh', // addresses of machines this test does not have; the flags are checked by the CLI tests
      'Growing the cluster: sh', // a joining broker: test/integration/elastic.test.ts runs skein broker --join
      'Moving partitions: sh', // test/broker/cli/elastic-cli.test.ts runs the reassign commands
      'Decommissioning, rebalancing, growing topics: sh', // test/broker/cli/elastic-cli.test.ts runs these commands
      'Lossy links: sh', // npm start on a lossy link: examples/lossy-link.ts runs the same loss in the suite
      'How it is built: ', // a diagram
      'Using the transport directly: ts',
    ]);
  });

  it('the five-minute tour runs as written, its snippets in order', async () => {
    const tour = snippets().filter((s) => s.section === 'A five-minute tour of the SDK' && s.lang === 'ts');
    const [setup, admin, produce, pull, push, groups, groupAdmin, errors, signal] = tour.map((s) => s.code);
    expect(groups).toMatch(/group: 'billing'/);
    expect(groupAdmin).toMatch(/listGroups/);
    const source = [
      onTestCluster(setup!),
      admin,
      produce,
      '// glue: orders up to id 1000, for the pull loop to stop at',
      'for (let id = 2; id <= 1000; id += 100) await producer.send({ topic: orders, messages: Array.from({ length: 100 }, (_, i) => ({ key: `customer-${id + i}`, value: { id: id + i, item: "tea", quantity: 1 } })) });',
      pull,
      '// glue: what the push handler ships, and a record for it once it listens; the first one shipped closes the subscription',
      'const shipped: Order[] = [];',
      'async function ship(order: Order) { shipped.push(order); setImmediate(() => void subscription.close()); }',
      'const feeding = (async () => { while (shipped.length === 0) { await producer.send({ topic: orders, messages: [{ key: "c", value: { id: 5000, item: "cake", quantity: 1 } }] }); await new Promise((r) => setTimeout(r, 100)); } })();',
      push,
      'await feeding;',
      '// glue: the group snippets\' other topics, and what they bill and flush; the push member leaves once it billed one order',
      'await admin.createTopic({ name: "refunds", partitions: 2, replicationFactor: 3 });',
      'await admin.createTopic({ name: "billing.dlq", partitions: 1, replicationFactor: 3 });',
      'const billed: Order[] = []; let pushing = false; let billedByPush = 0;',
      'async function bill(order: Order) { billed.push(order); if (pushing && billedByPush++ === 0) setImmediate(() => void billing.close()); }',
      'async function flush() {}',
      'const feedingGroup = (async () => { while (billedByPush === 0) { if (pushing) await producer.send({ topic: orders, messages: [{ key: "c", value: { id: 6000, item: "pie", quantity: 1 } }] }); await new Promise((r) => setTimeout(r, 100)); } })();',
      groups!.replace('await using billing', 'pushing = true;\nawait using billing'),
      'await feedingGroup;',
      groupAdmin,
      'console.log(`groups done: ${billed.length} billed, ${billedByPush} by the push member; groups left: ${(await admin.listGroups()).map((g) => g.group).join(",")}`);',
      errors,
      'const messages = [{ key: "customer-9", value: { id: 9, item: "jam", quantity: 3 } }];',
      signal,
      'console.log(`tour done: ${batch.length} in the fetched batch, ${shipped.length} shipped`);',
    ].join('\n');
    const { stdout, stderr } = await runScript('tour', source);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^written to partition \d at offset 0$/m);
    // The pull loop printed records until it met id 1000, then stopped.
    expect(stdout).toMatch(/^\d \d+ customer-1000 tea$/m);
    expect(stdout).toMatch(/^tour done: \d+ in the fetched batch, 1 shipped$/m);
    // The group member's loop read up to id 1000; the push member billed and left (its snippet runs up to
    // inFlightMax 4 handlers per partition, so more than one may be billed before the close lands); the
    // audit group was reset and deleted.
    expect(stdout, stdout).toMatch(/^groups done: \d+ billed, [1-9]\d* by the push member; groups left: billing$/m);
  }, 90_000);

  it('the plain-JavaScript form (try/finally with close) runs', async () => {
    const plain = snippets().find((s) => s.lang === 'js')!;
    const source = `import { Skein } from 'skein';\n${onTestCluster(plain.code)}\nconsole.log('closed');\n`;
    const { stdout } = await runScript('plain', source, 'mjs');
    expect(stdout).toBe('closed\n');
  }, 60_000);

  it('the transport snippet runs (on a free port)', async () => {
    const transport = snippets().find((s) => s.section === 'Using the transport directly')!;
    const [port] = await freePorts(1);
    expect(transport.code).toMatch(/port: 7000/);
    const source = `${transport.code.replaceAll('port: 7000', `port: ${port}`)}\nawait client.close();\nawait server.close();\n`;
    const { stdout } = await runScript('transport', source);
    expect(stdout).toMatch(/echo: \{ hello: 'world' \}/);
  }, 60_000);

  it('the commands to poke at the running cluster work as written', async () => {
    const poke = snippets().filter((s) => s.section === 'Quick start' && s.lang === 'sh')[1]!.code;
    // The README's cluster is npm start's; this one is the test's. `npm run skein --` is the bundled command.
    const exported = 'export SKEIN_BROKERS=127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094';
    expect(poke).toContain(exported);
    const script = poke.replace(exported, `export SKEIN_BROKERS=${cluster.bootstrap.join(',')}`).replaceAll('npm run skein --', `"${process.execPath}" "${bundledSkein()}"`);
    const { stdout } = await run('sh', ['-e', '-c', script], { timeout: 60_000 });
    expect(stdout).toMatch(/^created topic greetings \(id \d+\), 3 partitions/);
    expect(stdout.trim().split('\n').slice(-2)).toEqual(['hello', 'world']);
  }, 60_000);
});
