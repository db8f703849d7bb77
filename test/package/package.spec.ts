import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serdes } from '../../sdk/serde.js';
import { projectRoot } from '../support/root.js';
import { cborSamplesModule } from './cbor-samples.js';
import { firstProgramOutput, projects } from './projects.js';

/**
 * What `npm install skein` brings, tested on the packed tarball: it installs
 * offline, with an empty cache and no compiler on the PATH, into fresh ESM,
 * CommonJS and TypeScript projects, where a first program runs, the types
 * check, and `npx skein --help` answers. Run with `npm run test:package`
 * (CI runs it after `npm test`).
 */

const root = projectRoot();
const work = mkdtempSync(join(tmpdir(), 'skein-package-test-'));
const userProjects = projects(join(root, 'node_modules', '@types'));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, env: options.env ?? process.env, timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Fails with the command's output, which is what one needs to see when it fails. */
function expectSuccess(result: Run, what: string): void {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
}

/** npm's own script, run by this node: the installs get a PATH with node alone on it. */
function npmCli(): string {
  if (process.env.npm_execpath?.endsWith('npm-cli.js')) return process.env.npm_execpath;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (existsSync(join(dir, 'npm'))) return join(dirname(realpathSync(join(dir, 'npm'))), 'npm-cli.js');
  }
  throw new Error('npm not found on the PATH');
}

interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string }[];
}

let packed: Packed;
let tarball: string;

beforeAll(async () => {
  // What prepack does before `npm publish`; apart, so that its output stays out of pack's JSON.
  expectSuccess(await run(process.execPath, [npmCli(), 'run', 'build'], { cwd: root, timeoutMs: 180_000 }), 'npm run build');
  const pack = await run(process.execPath, [npmCli(), 'pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: root });
  expectSuccess(pack, 'npm pack');
  packed = (JSON.parse(pack.stdout) as Packed[])[0]!;
  tarball = join(work, packed.filename);

  const bin = join(work, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  const bare = { HOME: work, PATH: bin, npm_config_cache: join(work, 'npm-cache') };
  const started = performance.now();
  await Promise.all(
    userProjects.map(async (project) => {
      const dir = join(work, project.name);
      mkdirSync(dir);
      for (const [name, text] of Object.entries(project.files)) writeFileSync(join(dir, name), text);
      writeFileSync(join(dir, 'cbor-samples.mjs'), cborSamplesModule);
      const install = await run(process.execPath, [npmCli(), 'install', '--offline', '--no-audit', '--no-fund', tarball], { cwd: dir, env: bare });
      expectSuccess(install, `npm install in the ${project.name} project`);
    }),
  );
  console.log(
    `packed ${packed.filename}: ${(packed.size / 1000).toFixed(0)} kB, unpacked ${(packed.unpackedSize / 1000).toFixed(0)} kB, ` +
      `${packed.files.length} files; ${userProjects.length} offline installs in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}, 240_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

const installed = (project: string) => join(work, project, 'node_modules', 'skein');

function builtFiles(): string[] {
  const dist = join(installed('esm'), 'dist');
  return readdirSync(dist, { recursive: true, encoding: 'utf8' }).map((name) => join(dist, name));
}

describe('the packed tarball', () => {
  it('holds the built code, its types, the README, the LICENSE and package.json', () => {
    const paths = packed.files.map((file) => file.path);
    expect(paths).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/cli.js', 'dist/sdk/index.js', 'dist/sdk/index.cjs']));
    for (const path of paths) expect(path).toMatch(/^(LICENSE|README\.md|package\.json|dist\/.+\.(js|cjs|d\.ts|d\.cts|map))$/);
  });

  it('needs nothing at install: no dependencies and no install scripts', () => {
    const manifest = JSON.parse(readFileSync(join(installed('esm'), 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) expect(Object.keys(manifest[field] ?? {}), field).toEqual([]);
    for (const script of ['preinstall', 'install', 'postinstall']) expect(manifest.scripts?.[script], script).toBeUndefined();
    for (const project of userProjects) expect(readdirSync(join(work, project.name, 'node_modules')).filter((name) => !name.startsWith('.'))).toEqual(['skein']);
  });

  it('imports nothing but Node built-ins and its own files, so no native module and no ESM-only require', () => {
    // esbuild's output: static imports and re-exports start a line, dynamic ones and require() are calls.
    const specifiers = [/^(?:import|export)\b[^;]*?\bfrom "([^"]+)";$/gm, /^import "([^"]+)";$/gm, /\bimport\("([^"]+)"\)/g, /\brequire\("([^"]+)"\)/g];
    const foreign: string[] = [];
    for (const file of builtFiles().filter((f) => /\.c?js$/.test(f))) {
      const code = readFileSync(file, 'utf8');
      for (const [, name] of specifiers.flatMap((pattern) => [...code.matchAll(pattern)])) {
        if (!name!.startsWith('node:') && !name!.startsWith('./') && !name!.startsWith('../')) foreign.push(`${relative(work, file)}: ${name}`);
      }
    }
    expect(foreign).toEqual([]);
  });

  it('keeps each module in one file per format, shared by the entry points', () => {
    const definitions = (extension: string) =>
      builtFiles()
        .filter((file) => file.endsWith(extension))
        .flatMap((file) => readFileSync(file, 'utf8').match(/\bclass _?Endpoint\b/g) ?? []);
    expect(definitions('.js')).toHaveLength(1);
    expect(definitions('.cjs')).toHaveLength(1);
  });

  it('ships source maps without the sources in them', () => {
    const maps = builtFiles().filter((file) => file.endsWith('.map'));
    for (const map of maps) expect((JSON.parse(readFileSync(map, 'utf8')) as { sourcesContent?: unknown }).sourcesContent, map).toBeUndefined();
  });

  it('passes attw in every resolution mode (node10, node16 from CJS and ESM, bundler)', async () => {
    const attw = join(root, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js');
    expectSuccess(await run(process.execPath, [attw, tarball], { cwd: work }), 'attw');
  });
});

describe('installed into a fresh project', () => {
  it('runs a first program from ESM', async () => {
    const result = await run(process.execPath, ['main.js'], { cwd: join(work, 'esm') });
    expectSuccess(result, 'the ESM program');
    expect(JSON.parse(result.stdout)).toEqual(firstProgramOutput);
  });

  it('runs a first program from CommonJS, under a loader that cannot require ESM (as Node 22.0-22.11)', async () => {
    const result = await run(process.execPath, ['--no-experimental-require-module', 'main.js'], { cwd: join(work, 'cjs') });
    expectSuccess(result, 'the CommonJS program');
    expect(JSON.parse(result.stdout)).toEqual(firstProgramOutput);
  });

  it.each(['ts-node16', 'ts-bundler'])('type-checks TypeScript with %s resolution', async (name) => {
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    expectSuccess(await run(process.execPath, [tsc, '-p', '.'], { cwd: join(work, name) }), `tsc in ${name}`);
  });

  it.each(userProjects.map((p) => p.name))('answers npx skein --help in the %s project', async (name) => {
    const result = await run(process.execPath, [npmCli(), 'exec', '--offline', '--', 'skein', '--help'], { cwd: join(work, name) });
    expectSuccess(result, 'npx skein --help');
    expect(result.stdout).toMatch(/^usage: skein <command>/);
  });

  // The development build loads cbor-extract where it is installed (npm install here pins a version with prebuilt binaries).
  it('encodes CBOR to the same bytes, and decodes to the same values, as the development build', async () => {
    const golden = JSON.parse(readFileSync(join(root, 'test', 'fixtures', 'rpc-envelope.golden.json'), 'utf8')) as { frames: Record<string, string> };
    const frames = Object.values(golden.frames);
    const program = `import { serdes } from 'skein'; import { run } from './cbor-samples.mjs';
      process.stdout.write(JSON.stringify(run(serdes.cbor(), ${JSON.stringify(frames)})));`;
    const result = await run(process.execPath, ['--input-type=module', '-e', program], { cwd: join(work, 'esm') });
    expectSuccess(result, 'the CBOR comparison');
    const samples = (await import(pathToFileURL(join(work, 'esm', 'cbor-samples.mjs')).href)) as { run: (serde: unknown, hex: string[]) => unknown };
    expect(JSON.parse(result.stdout)).toEqual(samples.run(serdes.cbor(), frames));
  });
});
