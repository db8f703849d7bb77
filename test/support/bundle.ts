import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { projectRoot } from './root.js';

const root = projectRoot();
const outDir = join(root, '.test-build');

/**
 * Bundles a TypeScript entry point into one ESM file under .test-build/ so a
 * multi-process test can run it with plain `node` (Node 20 cannot run .ts).
 * Dependencies stay external and resolve from node_modules.
 */
export async function bundleForChild(entry: string, name: string): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, `${name}.mjs`);
  await build({
    entryPoints: [resolve(root, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    logLevel: 'error',
  });
  return outfile;
}
