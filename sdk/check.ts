import { SkeinError } from '../transport/errors.js';

/**
 * Readers for options objects that come from application code. Each failure
 * is a SkeinError naming the option and what was wrong with it, so a typo in
 * configuration is found at the call that made it, not deep in a retry loop.
 * `code` is INVALID_CONFIG for constructor/factory options and
 * INVALID_ARGUMENT for the arguments of one call.
 */
export class OptionReader {
  private readonly options: Record<string, unknown>;

  constructor(
    options: unknown,
    readonly where: string,
    private readonly code: 'INVALID_CONFIG' | 'INVALID_ARGUMENT',
    known: readonly string[],
  ) {
    if (options === undefined) options = {};
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw this.fail(`${where} options must be an object`);
    }
    this.options = withRenamedOptions(options as Record<string, unknown>, known, (message) => this.fail(`${where}: ${message}`));
    for (const key of Object.keys(this.options)) {
      if (!known.includes(key) && this.options[key] !== undefined) {
        throw this.fail(`${where}: unknown option ${JSON.stringify(key)} (known: ${known.join(', ')})`);
      }
    }
  }

  fail(message: string, cause?: unknown): SkeinError {
    return new SkeinError(this.code, { message, cause });
  }

  raw(key: string): unknown {
    return this.options[key];
  }

  has(key: string): boolean {
    return this.options[key] !== undefined;
  }

  /** An integer in [min, max], or the fallback when absent. */
  int(key: string, range: { min: number; max: number }, fallback: number): number {
    const value = this.options[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < range.min || value > range.max) {
      throw this.fail(`${this.where}: ${key} must be an integer from ${range.min} to ${range.max}, got ${describe(value)}`);
    }
    return value;
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.options[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') throw this.fail(`${this.where}: ${key} must be true or false, got ${describe(value)}`);
    return value;
  }

  oneOf<const T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const value = this.options[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      throw this.fail(`${this.where}: ${key} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(value)}`);
    }
    return value as T;
  }

  string(key: string, options: { bytesMax: number }, fallback: string): string {
    const value = this.options[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || Buffer.byteLength(value) > options.bytesMax) {
      throw this.fail(`${this.where}: ${key} must be a string of at most ${options.bytesMax} bytes, got ${describe(value)}`);
    }
    return value;
  }

  fn<T extends (...args: never[]) => unknown>(key: string): T | undefined {
    const value = this.options[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'function') throw this.fail(`${this.where}: ${key} must be a function, got ${describe(value)}`);
    return value as T;
  }

  signal(key: string): AbortSignal | undefined {
    const value = this.options[key];
    if (value === undefined) return undefined;
    if (!(value instanceof AbortSignal)) throw this.fail(`${this.where}: ${key} must be an AbortSignal`);
    return value;
  }
}

/**
 * Option names that 0.2 changed to follow the SDK's one rule: the quantity first, its unit and then its qualifier
 * last (`recordsMax`, `waitMsMax`, `inFlightMax`, as `batchBytesMax` and `fetchBytesMax` always were). The old names
 * are read for one more release, with a DeprecationWarning once per name; the README lists them.
 */
export const renamedOptions: Readonly<Record<string, string>> = {
  maxRecords: 'recordsMax',
  maxWaitMs: 'waitMsMax',
  maxInFlight: 'inFlightMax',
  maxAttempts: 'attemptsMax',
};

const warnedRenames = new Set<string>();

/** `options` with each old name that `known` has the new name of read as the new one; both given is an error. */
function withRenamedOptions(options: Record<string, unknown>, known: readonly string[], fail: (message: string) => SkeinError): Record<string, unknown> {
  let read = options;
  for (const [old, now] of Object.entries(renamedOptions)) {
    if (options[old] === undefined || !known.includes(now)) continue;
    if (options[now] !== undefined) throw fail(`${old} is the old name of ${now}; give ${now} only`);
    if (read === options) read = { ...options };
    read[now] = options[old];
    delete read[old];
    if (warnedRenames.has(old)) continue;
    warnedRenames.add(old);
    process.emitWarning(`skein: the option ${old} is now ${now}; the old name is read until the next release`, { type: 'DeprecationWarning', code: 'SKEIN_RENAMED_OPTION' });
  }
  return read;
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** Reads `{ signal }` of one call, the one option every async call of the SDK takes. */
export function callSignal(options: { signal?: AbortSignal } | undefined, where: string): AbortSignal | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) throw new SkeinError('INVALID_ARGUMENT', { message: `${where}: options must be an object` });
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new SkeinError('INVALID_ARGUMENT', { message: `${where}: signal must be an AbortSignal` });
  }
  return signal;
}
