import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { defineConfig, type Options } from 'tsup';

type EsbuildPlugin = NonNullable<Options['esbuildPlugins']>[number];
type TsupPlugin = NonNullable<Options['plugins']>[number];

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

/** Makes dist/cli.js an executable script; the other files are modules. */
const shebang: TsupPlugin = {
  name: 'shebang',
  renderChunk(code, chunk) {
    if (!chunk.path.endsWith('/cli.js')) return undefined;
    const map = typeof chunk.map === 'string' ? (JSON.parse(chunk.map) as { mappings: string }) : chunk.map;
    // One line more at the top: every mapping moves down a line.
    return { code: `#!/usr/bin/env node\n${code}`, map: map ? { ...map, mappings: `;${map.mappings}` } : map };
  },
};

const library = { 'sdk/index': 'sdk/index.ts', 'broker/index': 'broker/index.ts', 'transport/index': 'transport/index.ts' };

const shared: Options = {
  target: 'node20',
  platform: 'node',
  // Everything is bundled (cbor-x, p-retry): the package has no dependencies, so an
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
    plugins: [shebang],
  },
  {
    ...shared,
    entry: library,
    format: ['cjs'],
    dts: { entry: library },
  },
]);
