import { parseArgs } from 'node:util';

/**
 * Flag parsing for every `skein` subcommand: node:util's strict parseArgs, so
 * an unknown or malformed flag is a UsageError (exit code 2) with a message
 * that names it, never a silently ignored typo.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  help: string;
  /** Shown in help; the command applies its own default. */
  default?: string;
}

export type FlagSpecs = Record<string, FlagSpec>;

export interface ParsedFlags {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export function parseFlags(argv: readonly string[], specs: FlagSpecs, options: { positionals?: boolean } = {}): ParsedFlags {
  const config: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, spec] of Object.entries(specs)) {
    config[name] = { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) };
  }
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: config, strict: true, allowPositionals: options.positionals ?? false });
    return { values: values as ParsedFlags['values'], positionals };
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
}

export function stringFlag(flags: ParsedFlags, name: string): string | undefined {
  const value = flags.values[name];
  return typeof value === 'string' ? value : undefined;
}

export function intFlag(flags: ParsedFlags, name: string, range: { min: number; max: number }): number | undefined {
  const text = stringFlag(flags, name);
  if (text === undefined) return undefined;
  if (!/^-?\d+$/.test(text.trim())) throw new UsageError(`--${name} must be an integer, got "${text}"`);
  const value = Number(text);
  if (value < range.min || value > range.max) throw new UsageError(`--${name} must be between ${range.min} and ${range.max}, got ${value}`);
  return value;
}

/** One of `choices` (or `fallback` when the flag is absent); anything else is a UsageError listing them. */
export function choiceFlag<T extends string>(flags: ParsedFlags, name: string, choices: readonly T[], fallback: T): T {
  const text = stringFlag(flags, name);
  if (text === undefined) return fallback;
  if (!(choices as readonly string[]).includes(text)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got "${text}"`);
  return text as T;
}

export function boolFlag(flags: ParsedFlags, name: string): boolean {
  return flags.values[name] === true;
}

export function helpText(usage: string, summary: string, specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'string' ? ' <value>' : ''}`;
    return `  ${flag.padEnd(30)} ${spec.help}${spec.default !== undefined ? ` (default ${spec.default})` : ''}`;
  });
  return `usage: ${usage}\n\n${summary}\n\nflags:\n${rows.join('\n')}\n      --help${' '.repeat(24)} show this help\n`;
}
