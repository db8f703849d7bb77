import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layering of DESIGN.md and the purity of the protocol cores, checked by
 * reading the sources: a core that reaches for a clock, a timer, randomness or
 * a socket cannot be simulated deterministically.
 */

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    found.push(match[1] ?? match[2]!);
  }
  return found;
}

function resolvedPath(file: string, specifier: string): string | null {
  return specifier.startsWith('.') ? relative(process.cwd(), join(file, '..', specifier)) : null;
}

function resolvedLayer(file: string, specifier: string): string | null {
  return resolvedPath(file, specifier)?.split(sep)[0] ?? null;
}

/** Everything that ships or that users read as an example: the code the layering rules are about (tests may import anything). */
const productFolders = ['transport', 'sdk', 'broker', 'examples'];

describe('layering', () => {
  it('transport imports neither broker nor sdk', () => {
    for (const file of sourceFiles('transport')) {
      for (const spec of importsOf(file)) {
        expect([file, resolvedLayer(file, spec)]).not.toEqual([file, 'broker']);
        expect([file, resolvedLayer(file, spec)]).not.toEqual([file, 'sdk']);
        expect(spec.startsWith('skein')).toBe(false);
      }
    }
  });

  it('sdk never imports broker', () => {
    for (const file of sourceFiles('sdk')) {
      for (const spec of importsOf(file)) {
        expect([file, resolvedLayer(file, spec)]).not.toEqual([file, 'broker']);
      }
    }
  });

  it('nothing imports the skein command (broker/cli): it is the top, composing broker and sdk', () => {
    const cli = join('broker', 'cli');
    const outside = productFolders.flatMap(sourceFiles).filter((file) => !file.startsWith(cli + sep));
    expect(outside.length).toBeGreaterThan(100);
    for (const file of outside) {
      for (const spec of importsOf(file)) {
        const target = resolvedPath(file, spec) ?? '';
        expect([file, spec, target === cli || target.startsWith(cli + sep)]).toEqual([file, spec, false]);
      }
    }
  });

  it('product code never imports tests or benchmarks', () => {
    for (const file of productFolders.flatMap(sourceFiles)) {
      for (const spec of importsOf(file)) {
        expect([file, spec, resolvedLayer(file, spec)]).not.toEqual([file, spec, 'test']);
      }
    }
  });

  it('broker never imports sdk, except the skein command that composes both', () => {
    for (const file of sourceFiles('broker')) {
      if (file.startsWith(join('broker', 'cli'))) continue;
      for (const spec of importsOf(file)) {
        expect([file, resolvedLayer(file, spec)]).not.toEqual([file, 'sdk']);
      }
    }
  });
});

const pureCores = ['transport/core', 'broker/raft/core', 'broker/groups/core', 'broker/cluster/core'];
const forbiddenImports = /^(node:)?(dgram|net|fs|fs\/promises|timers|timers\/promises|child_process|worker_threads|perf_hooks|crypto|os|cluster|http|https)$/;
const forbiddenCalls = [
  /\bDate\.now\s*\(/,
  /\bnew Date\s*\(/,
  /\bMath\.random\s*\(/,
  /\bperformance\.now\s*\(/,
  /\bprocess\.hrtime/,
  /\bset(Timeout|Interval|Immediate)\s*\(/,
  /\bqueueMicrotask\s*\(/,
];

describe('protocol cores are pure', () => {
  for (const core of pureCores) {
    it(`${core} takes time, randomness and I/O from outside`, () => {
      const files = sourceFiles(core);
      for (const file of files) {
        for (const spec of importsOf(file)) {
          expect([file, spec, forbiddenImports.test(spec)]).toEqual([file, spec, false]);
          // A core may import other pure code only: its own folder, limits, errors.
          const layer = resolvedLayer(file, spec);
          if (layer !== null) expect([file, spec, layer]).not.toEqual([file, spec, 'sdk']);
        }
        const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
        for (const pattern of forbiddenCalls) {
          expect([file, pattern.source, pattern.test(text)]).toEqual([file, pattern.source, false]);
        }
      }
    });
  }

  it('the purity check sees the cores it guards', () => {
    // Fails once a core folder exists but the scan finds nothing in it (a rename would silently disable the check).
    for (const core of pureCores) {
      let exists = true;
      try {
        statSync(core);
      } catch {
        exists = false;
      }
      if (exists) expect(sourceFiles(core).length).toBeGreaterThan(0);
    }
  });
});
