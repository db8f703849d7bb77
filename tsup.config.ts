import { defineConfig } from 'tsup';

// One build for the three public entry points (ESM + CJS + .d.ts) and one for
// the `skein` command, which only ever runs as an ESM script.
export default defineConfig([
  {
    entry: {
      'sdk/index': 'sdk/index.ts',
      'broker/index': 'broker/index.ts',
      'transport/index': 'transport/index.ts',
    },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    splitting: false,
  },
  {
    entry: { cli: 'broker/cli/main.ts' },
    format: ['esm'],
    // One file: the subcommands are loaded lazily, but a bin is easier to ship and trace whole.
    splitting: false,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    banner: { js: '#!/usr/bin/env node' },
  },
]);
