import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { projectRoot } from '../support/root.js';
import { alternatingProduce, median } from './support/alternating-produce.js';

/**
 * Produce throughput of the broker and SDK as built here against another
 * revision's (--before, main by default), in alternating rounds of one run
 * (see support/alternating-produce.ts); medians of records/s and their
 * ratio (this tree / before). The other revision is taken with `git
 * archive` into a temporary directory and bundled from there; nothing is
 * written to the tree but the bundles in .test-build/.
 *
 *   npm run bench:produce -- [--before main] [--rounds 5] [--messages 200000]
 */

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : process.argv[at + 1]!;
}

const root = projectRoot();
const before = flag('before', 'main');
const rounds = Number(flag('rounds', '5'));
const messages = Number(flag('messages', '200000'));

async function bundleCli(tree: string, name: string): Promise<string> {
  // In .test-build/ of this tree, so the bundle's dependencies resolve from this tree's node_modules.
  const outfile = join(root, '.test-build', `bench-produce-${name}-${process.pid}.mjs`);
  await build({ entryPoints: [resolve(tree, 'broker/cli/main.ts')], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'error' });
  return outfile;
}

mkdirSync(join(root, '.test-build'), { recursive: true });
const scratch = mkdtempSync(join(tmpdir(), 'skein-bench-produce-before-'));
try {
  execFileSync('sh', ['-c', `git archive ${JSON.stringify(before)} | tar -x -C ${JSON.stringify(scratch)}`], { cwd: root });
  const clis = { before: await bundleCli(scratch, 'before'), after: await bundleCli(root, 'after') };
  const rates = await alternatingProduce(clis, { rounds, messages });
  const [was, now] = [median(rates.before), median(rates.after)];
  console.log(`before (${before}): ${Math.round(was).toLocaleString('en')} records/s, this tree: ${Math.round(now).toLocaleString('en')} records/s (medians of ${rounds}), ratio ${(now / was).toFixed(3)}x`);
  console.log(JSON.stringify({ bench: 'produce', before, rounds, messages, beforeMsgsPerSec: Math.round(was), afterMsgsPerSec: Math.round(now), ratio: Number((now / was).toFixed(3)) }));
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
