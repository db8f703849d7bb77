import { closest, didYouMean } from './suggest.js';

/**
 * The one flag parser of every `skein` subcommand. Strict: an unknown flag,
 * a missing or doubled value, a stray argument or a value out of range is a
 * UsageError (exit code 2) whose message names the flag and, for a typo,
 * the flag probably meant; nothing is silently ignored.
 *
 * Accepted forms: `--name value`, `--name=value`, `-n value`, `-nVALUE`,
 * grouped boolean shorts (`-fv`), and `--` before positionals that start
 * with a dash. A value may start with a dash when it is a number (`--from -1`
 * reaches the flag's own check, which says what is allowed) or is `-` alone;
 * any other value starting with a dash goes after `=`.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  help: string;
  /** What the value looks like in help: N, MS, HOST:PORT,... (string flags; VALUE when absent). */
  value?: string;
  /** Shown in help as what the command does without the flag; the command applies it. */
  default?: string;
  /** Parsed but left out of help and suggestions (a deprecated spelling). */
  hidden?: boolean;
  /**
   * The old name of this flag (hidden): its value is read as `renamedTo`, with a
   * notice on stderr, for one release; giving both names is an error.
   */
  renamedTo?: string;
}

export type FlagSpecs = Record<string, FlagSpec>;

export interface ParsedFlags {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

const helpSpec: FlagSpec = { type: 'boolean', short: 'h', help: 'show this help' };

/** `--help` or `-h` anywhere before `--` asks for help, whatever else is wrong on the line. */
function asksForHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((arg) => arg === '--help' || arg === '-h');
}

export function parseFlags(argv: readonly string[], specs: FlagSpecs, options: { positionals?: boolean } = {}): ParsedFlags {
  if (asksForHelp(argv)) return { values: { help: true }, positionals: [] };
  const all: FlagSpecs = { ...specs, help: helpSpec };
  const values: ParsedFlags['values'] = {};
  const positionals: string[] = [];
  const writtenAs = new Map<string, string>();
  const set = (written: string, value: string | boolean): void => {
    const name = all[written]!.renamedTo ?? written;
    const before = writtenAs.get(name);
    if (before !== undefined && before !== written) throw new UsageError(`--${before === name ? written : before} is the old name of --${name}; give --${name} only`);
    if (before !== undefined) throw new UsageError(`--${written} is given more than once`);
    writtenAs.set(name, written);
    values[name] = value;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const equals = arg.indexOf('=');
      const name = arg.slice(2, equals < 0 ? undefined : equals);
      const spec = all[name];
      if (spec === undefined) throw unknownFlag(arg.slice(0, equals < 0 ? undefined : equals), name, specs);
      if (spec.type === 'boolean') {
        if (equals >= 0) throw new UsageError(`--${name} takes no value`);
        set(name, true);
      } else if (equals >= 0) set(name, arg.slice(equals + 1));
      else set(name, valueAfter(argv, i++, `--${name}`));
    } else if (arg.startsWith('-') && arg !== '-' && !isNumber(arg)) {
      i = shortFlags(argv, i, all, specs, set);
    } else {
      if (options.positionals !== true) throw new UsageError(`unexpected argument ${quote(arg)}`);
      positionals.push(arg);
    }
  }
  for (const [name, written] of writtenAs) {
    if (written !== name) process.stderr.write(`skein: the flag --${written} is now --${name}; the old name works until the next release\n`);
  }
  return { values, positionals };
}

/** Reads `-x value`, `-xVALUE` or a group of boolean shorts at argv[i]; returns the index of the last argument used. */
function shortFlags(argv: readonly string[], i: number, all: FlagSpecs, specs: FlagSpecs, set: (name: string, value: string | boolean) => void): number {
  const arg = argv[i]!;
  const byShort = new Map(Object.entries(all).flatMap(([name, spec]) => (spec.short === undefined ? [] : [[spec.short, name] as const])));
  const longName = arg.slice(1).split('=')[0]!;
  // `-topic` is a long flag with one dash, not -t with the value "opic".
  if (longName.length > 1 && (all[longName] !== undefined || closest(longName, visibleNames(specs)) !== undefined)) throw unknownFlag(`-${longName}`, longName, specs);
  for (let at = 1; at < arg.length; at++) {
    const name = byShort.get(arg[at]!);
    if (name === undefined) throw unknownFlag(`-${arg[at]}`, arg[at]!, specs);
    if (all[name]!.type === 'boolean') {
      set(name, true);
      continue;
    }
    const inline = arg.slice(at + 1).replace(/^=/, '');
    if (inline !== '') {
      set(name, inline);
      return i;
    }
    set(name, valueAfter(argv, i, `-${arg[at]}`));
    return i + 1;
  }
  return i;
}

function valueAfter(argv: readonly string[], i: number, flag: string): string {
  const next = argv[i + 1];
  if (next === undefined) throw new UsageError(`${flag} needs a value`);
  if (next.startsWith('-') && next !== '-' && !isNumber(next)) throw new UsageError(`${flag} needs a value, got the flag ${next} (write ${flag}=VALUE for a value starting with "-")`);
  return next;
}

function isNumber(text: string): boolean {
  return /^-?(\d+\.?\d*|\.\d+)$/.test(text);
}

function visibleNames(specs: FlagSpecs): string[] {
  return [...Object.keys(specs).filter((name) => !isHidden(specs[name]!)), 'help'];
}

function isHidden(spec: FlagSpec): boolean {
  return spec.hidden === true || spec.renamedTo !== undefined;
}

function unknownFlag(written: string, name: string, specs: FlagSpecs): UsageError {
  const suggestion = closest(name, visibleNames(specs));
  return new UsageError(`unknown flag ${written}${didYouMean(suggestion === undefined ? undefined : `--${suggestion}`)}`);
}

/** How the CLI shows a value the user typed inside a message: quoted, so spaces and empty strings are visible. */
export function quote(text: string): string {
  return JSON.stringify(text);
}

export function stringFlag(flags: ParsedFlags, name: string): string | undefined {
  const value = flags.values[name];
  return typeof value === 'string' ? value : undefined;
}

export function intFlag(flags: ParsedFlags, name: string, range: { min: number; max: number }): number | undefined {
  const text = stringFlag(flags, name);
  if (text === undefined) return undefined;
  if (!/^-?\d+$/.test(text.trim())) throw new UsageError(`--${name} must be an integer, got ${quote(text)}`);
  return inRange(name, Number(text), text, range);
}

/** A decimal number (a loss rate, seconds). */
export function numberFlag(flags: ParsedFlags, name: string, range: { min: number; max: number }): number | undefined {
  const text = stringFlag(flags, name);
  if (text === undefined) return undefined;
  const value = text.trim() === '' ? Number.NaN : Number(text);
  if (!Number.isFinite(value)) throw new UsageError(`--${name} must be a number, got ${quote(text)}`);
  return inRange(name, value, text, range);
}

function inRange(name: string, value: number, text: string, range: { min: number; max: number }): number {
  if (value >= range.min && value <= range.max) return value;
  if (range.max === Number.MAX_SAFE_INTEGER) throw new UsageError(`--${name} must be at least ${range.min}, got ${quote(text)}`);
  throw new UsageError(`--${name} must be between ${range.min} and ${range.max}, got ${quote(text)}`);
}

/** One of `choices` (or `fallback` when the flag is absent); anything else is a UsageError listing them. */
export function choiceFlag<T extends string>(flags: ParsedFlags, name: string, choices: readonly T[], fallback: T): T {
  const text = stringFlag(flags, name);
  if (text === undefined) return fallback;
  if (!(choices as readonly string[]).includes(text)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got ${quote(text)}`);
  return text as T;
}

/** A comma-separated list, each item read by `item` (which throws a UsageError naming it); `fallback` when absent. */
export function listFlag<T>(flags: ParsedFlags, name: string, item: (text: string) => T, fallback: T[]): T[] {
  const text = stringFlag(flags, name);
  if (text === undefined) return fallback;
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`--${name} is a comma-separated list, got ${quote(text)}`);
  return items.map(item);
}

export function boolFlag(flags: ParsedFlags, name: string): boolean {
  return flags.values[name] === true;
}

/** An action or subcommand (`topic lst`, `bench prodcue`) that is none of `known`, with the one probably meant. */
export function unknownWord(kind: string, word: string, known: readonly string[]): UsageError {
  const suggestion = closest(word, known);
  return new UsageError(`unknown ${kind} ${quote(word)}${suggestion === undefined ? ` (${known.join(', ')})` : didYouMean(quote(suggestion))}`);
}

/** Help in one layout for every command: the flag column as wide as its longest entry, descriptions aligned after it. */
export function helpText(usage: string, summary: string, specs: FlagSpecs): string {
  const visible = Object.entries({ ...specs, help: helpSpec }).filter(([, spec]) => !isHidden(spec));
  const flags = visible.map(([name, spec]) => `${spec.short === undefined ? '    ' : `-${spec.short}, `}--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`);
  const width = Math.max(...flags.map((f) => f.length));
  const rows = visible.map(([, spec], i) => `  ${flags[i]!.padEnd(width)}  ${spec.help}${spec.default === undefined ? '' : ` (default: ${spec.default})`}`);
  return `usage: ${usage}\n\n${summary}\n\nflags:\n${rows.join('\n')}\n`;
}

/**
 * `skein NOUN ACTION [NAME]`: the action and name, checked. Null when help
 * was printed (with the exit code to return): `list` takes no name, every
 * other action needs one.
 */
export function actionAndName<A extends string>(
  parsed: ParsedFlags,
  help: { noun: string; usage: string; summary: string; specs: FlagSpecs },
  actions: readonly A[],
): { action: A; name: string | undefined } | { exitCode: number } {
  const [action, name, ...extra] = parsed.positionals;
  if (boolFlag(parsed, 'help') || action === undefined) {
    process.stdout.write(helpText(help.usage, help.summary, help.specs));
    return { exitCode: boolFlag(parsed, 'help') ? 0 : 2 };
  }
  if (!(actions as readonly string[]).includes(action)) throw unknownWord('action', action, actions);
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.map(quote).join(' ')}`);
  if (action === 'list' && name !== undefined) throw new UsageError(`${help.noun} list takes no name, got ${quote(name)}`);
  if (action !== 'list' && name === undefined) throw new UsageError(`${help.noun} ${action} needs a ${help.noun} name`);
  return { action: action as A, name };
}
