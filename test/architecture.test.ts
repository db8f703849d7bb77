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
  for (const match of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm)) {
    found.push(match[1] ?? match[2] ?? match[3]!);
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

/** The product file a relative specifier names ("./x.js" is x.ts, "./dir/index.js" or "./dir" its index.ts); null for a package. */
function importedFile(file: string, specifier: string, known: ReadonlySet<string>): string | null {
  const path = resolvedPath(file, specifier);
  if (path === null) return null;
  const stem = path.replace(/\.js$/, '');
  return [`${stem}.ts`, join(stem, 'index.ts')].find((candidate) => known.has(candidate)) ?? null;
}

/** The strongly connected components of more than one file, or of a file that imports itself (Tarjan): each is an import cycle. */
function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, index.size);
    low.set(file, index.get(file)!);
    stack.push(file);
    onStack.add(file);
    for (const next of graph.get(file) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(file, Math.min(low.get(file)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(file, Math.min(low.get(file)!, index.get(next)!));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || graph.get(file)!.includes(file)) cycles.push(component.sort());
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return cycles;
}

describe('import cycles', () => {
  it('no product file reaches itself through its imports, type-only imports included', () => {
    const files = productFolders.flatMap(sourceFiles);
    const known = new Set(files);
    const graph = new Map(files.map((file) => [file, importsOf(file).flatMap((spec) => importedFile(file, spec, known) ?? [])]));
    expect([...graph.values()].flat().length).toBeGreaterThan(500);
    expect(importCycles(graph)).toEqual([]);
  });

  it('the check finds a cycle, also one through a type-only import, and the file that imports itself', () => {
    const graph = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts', 'd.ts']],
      ['d.ts', []],
      ['e.ts', ['e.ts']],
    ]);
    expect(importCycles(graph)).toEqual([['a.ts', 'b.ts', 'c.ts'], ['e.ts']]);
    // sdk/cluster.ts has `import type { ResolvedSkeinOptions } from './options.js'`: type-only edges are edges.
    expect(importsOf(join('sdk', 'cluster.ts'))).toContain('./options.js');
  });
});

/**
 * Where time comes only from a Clock (transport/clock.ts, the one file that reads the globals): the
 * rule of the README's "How it is built" (every broker folder but cli/, the command and its benchmarks); a
 * reference counts as a call (`options.nowMs ?? Date.now` reads the global all the same).
 */
const clockFolders = ['transport', 'sdk', 'broker/raft', 'broker/log', 'broker/partition', 'broker/replica', 'broker/server', 'broker/cluster', 'broker/groups'];
/** Files outside those folders held to the rule too: the broker's own shell. */
const clockFiles = [join('broker', 'broker.ts')];
const clockCalls = [/\bDate\.now\b/, /\bperformance\.now\b/, /\bset(Timeout|Interval)\b/];

function withoutComments(file: string): string {
  return readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
}

describe('one clock', () => {
  it('shells read the time and set timers through a Clock only', () => {
    const files = [...clockFolders.flatMap(sourceFiles), ...clockFiles].filter((file) => file !== join('transport', 'clock.ts'));
    expect(files.length).toBeGreaterThan(50);
    for (const file of files) {
      const text = withoutComments(file);
      for (const pattern of clockCalls) expect([file, pattern.source, pattern.test(text)]).toEqual([file, pattern.source, false]);
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
        const text = withoutComments(file);
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
