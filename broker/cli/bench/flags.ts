import { SkeinError } from '../../../transport/errors.js';

/**
 * A small strict flag parser for the bench commands: `--name value`,
 * `--name=value`, and bare boolean flags. Unknown flags, missing values and
 * values out of range are INVALID_ARGUMENT naming the flag, so the command
 * can print the reason and exit with code 2.
 */
export type FlagSpec =
  | { kind: 'boolean' }
  | { kind: 'number'; min: number; max: number; integer?: boolean }
  | { kind: 'choice'; choices: readonly string[] }
  | { kind: 'string' };

export type FlagValues = Record<string, string | number | boolean | undefined>;

export function parseFlags(argv: readonly string[], specs: Readonly<Record<string, FlagSpec>>): FlagValues {
  const values: FlagValues = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--') || arg === '--') throw badFlag(`unexpected argument ${JSON.stringify(arg)}`);
    const equals = arg.indexOf('=');
    const name = equals < 0 ? arg.slice(2) : arg.slice(2, equals);
    const spec = specs[name];
    if (spec === undefined) throw badFlag(`unknown flag --${name} (known: ${Object.keys(specs).map((k) => `--${k}`).join(', ')})`);
    if (Object.hasOwn(values, name)) throw badFlag(`--${name} is given more than once`);
    if (spec.kind === 'boolean') {
      if (equals >= 0) throw badFlag(`--${name} takes no value`);
      values[name] = true;
      continue;
    }
    let text: string | undefined;
    if (equals >= 0) text = arg.slice(equals + 1);
    else {
      text = argv[i + 1];
      if (text === undefined || text.startsWith('--')) throw badFlag(`--${name} needs a value`);
      i++;
    }
    values[name] = parseValue(name, text, spec);
  }
  return values;
}

function parseValue(name: string, text: string, spec: Exclude<FlagSpec, { kind: 'boolean' }>): string | number {
  switch (spec.kind) {
    case 'number': {
      const value = text.trim() === '' ? Number.NaN : Number(text);
      if (!Number.isFinite(value)) throw badFlag(`--${name} must be a number, got ${JSON.stringify(text)}`);
      if (spec.integer === true && !Number.isInteger(value)) throw badFlag(`--${name} must be a whole number, got ${JSON.stringify(text)}`);
      if (value < spec.min || value > spec.max) throw badFlag(`--${name} must be between ${spec.min} and ${spec.max}, got ${text}`);
      return value;
    }
    case 'choice':
      if (!spec.choices.includes(text)) throw badFlag(`--${name} must be one of ${spec.choices.join(', ')}, got ${JSON.stringify(text)}`);
      return text;
    case 'string':
      if (text === '') throw badFlag(`--${name} must not be empty`);
      return text;
  }
}

function badFlag(message: string): SkeinError {
  return new SkeinError('INVALID_ARGUMENT', { message });
}
