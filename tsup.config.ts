import { chmod, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { defineConfig, type Options } from 'tsup';

type EsbuildPlugin = NonNullable<Options['esbuildPlugins']>[number];

/**
 * cbor-x's Node entry also tries to load cbor-extract, a native string
 * decoder whose platform builds are missing for the version cbor-x asks for:
 * every install would compile it (python, make and a C++ compiler), for no
 * speed on skein's frames (`npm run bench:cbor`). Its portable entry is the
 * same encoder and decoder without that attempt; the package bundles that one.
 */
const portableCbor: EsbuildPlugin = {
  name: 'portable-cbor',
  setup(build) {
    const entry = join(dirname(createRequire(import.meta.url).resolve('cbor-x/package.json')), 'index.js');
    build.onResolve({ filter: /^cbor-x$/ }, () => ({ path: entry }));
  },
};

/**
 * Makes dist/cli.js an executable script once it is written (a banner would
 * go on every chunk). The map gets one more line at the top to match.
 */
async function makeCliExecutable(): Promise<void> {
  const script = 'dist/cli.js';
  await writeFile(script, `#!/usr/bin/env node\n${await readFile(script, 'utf8')}`);
  await chmod(script, 0o755);
  const map = JSON.parse(await readFile(`${script}.map`, 'utf8')) as { mappings: string };
  await writeFile(`${script}.map`, JSON.stringify({ ...map, mappings: `;${map.mappings}` }));
}

const library = { 'sdk/index': 'sdk/index.ts', 'broker/index': 'broker/index.ts', 'transport/index': 'transport/index.ts' };

const shared: Options = {
  target: 'node20',
  platform: 'node',
  // Everything is bundled (cbor-x): the package has no dependencies, so an
  // install fetches one tarball and runs nothing, and the CommonJS build never
  // require()s an ESM-only module (Node 22.0-22.11 cannot).
  noExternal: [/.*/],
  esbuildPlugins: [portableCbor],
  // Entry points share chunks instead of each carrying its own transport.
  splitting: true,
  // Maps point stack traces at the TypeScript lines; the sources stay in the repository.
  sourcemap: true,
  esbuildOptions(options) {
    options.sourcesContent = false;
  },
  removeNodeProtocol: false,
};

// The build the package ships; `npm start` and `npm run skein` use the faster build:dev (no types, no CommonJS).
export default defineConfig([
  {
    ...shared,
    // The command shares its chunks with the ESM entry points; it only ever runs as ESM.
    entry: { ...library, cli: 'broker/cli/main.ts' },
    format: ['esm'],
    dts: { entry: library },
    clean: true,
    onSuccess: makeCliExecutable,
  },
  {
    ...shared,
    entry: library,
    format: ['cjs'],
    dts: { entry: library },
  },
]);
