import { SkeinError } from '../errors.js';

/**
 * Value parsers of the loss spec grammar. Each throws INVALID_CONFIG naming
 * the key and the offending text, because a typo in SKEIN_LOSS must fail the
 * process at start, not silently run a lossless experiment.
 */

export function invalidSpec(key: string, value: string, why: string): SkeinError {
  return new SkeinError('INVALID_CONFIG', {
    message: `loss spec: ${key}=${JSON.stringify(value)} ${why}`,
    details: { key, value },
  });
}

const numberPattern = /^[+]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?/i;

function splitNumber(key: string, text: string): { value: number; unit: string } {
  const match = numberPattern.exec(text);
  if (match === null) throw invalidSpec(key, text, 'is not a number');
  const value = Number(match[0]);
  if (!Number.isFinite(value)) throw invalidSpec(key, text, 'is not a finite number');
  return { value, unit: text.slice(match[0].length) };
}

/** "0.1" or "10%": a probability in [0, 1]. */
export function parseProbability(key: string, text: string): number {
  const { value, unit } = splitNumber(key, text);
  let p: number;
  if (unit === '') p = value;
  else if (unit === '%') p = value / 100;
  else throw invalidSpec(key, text, 'has an unknown unit (a probability is 0..1 or a percentage like 5%)');
  if (!(p >= 0 && p <= 1)) throw invalidSpec(key, text, 'is not a probability between 0 and 1');
  return p;
}

/** A number followed by one of `units` (matched without case), scaled: the value in the base unit. */
function scaled(key: string, text: string, units: Readonly<Record<string, number>>, hint: string): number {
  const { value, unit } = splitNumber(key, text);
  const scale = units[unit.toLowerCase()];
  if (scale === undefined) throw invalidSpec(key, text, `needs ${hint}`);
  return value * scale;
}

const durationUnitsMs: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };

/** "5ms", "250us", "0.2s": a duration in milliseconds within [0, maxMs]. A bare number is refused: its unit would be a guess. */
export function parseDurationMs(key: string, text: string, maxMs: number): number {
  const ms = scaled(key, text, durationUnitsMs, 'a duration unit: us, ms or s');
  if (ms > maxMs) throw invalidSpec(key, text, `exceeds the maximum of ${maxMs}ms`);
  return ms;
}

const rateUnitsBitsPerSecond: Record<string, number> = {
  bit: 1,
  kbit: 1e3,
  mbit: 1e6,
  gbit: 1e9,
  'b/s': 8,
  'kb/s': 8e3,
  'mb/s': 8e6,
  'gb/s': 8e9,
  'kib/s': 8 * 1024,
  'mib/s': 8 * 1024 * 1024,
  'gib/s': 8 * 1024 * 1024 * 1024,
};

/** "10mbit", "512kbit", "1.5MB/s", "2MiB/s": a bandwidth in bits per second within [min, max]. */
export function parseRateBitsPerSecond(key: string, text: string, bounds: { min: number; max: number }): number {
  const bits = scaled(key, text, rateUnitsBitsPerSecond, 'a rate unit: bit, kbit, mbit, gbit (per second) or B/s, KB/s, MB/s, KiB/s, MiB/s, GiB/s');
  if (bits < bounds.min || bits > bounds.max) throw invalidSpec(key, text, `is outside ${bounds.min}..${bounds.max} bit/s`);
  return bits;
}

const sizeUnitsBytes: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, kib: 1024, mib: 1024 * 1024 };

/** "64KiB", "1500B", "1MB": a whole number of bytes within [min, max]. */
export function parseSizeBytes(key: string, text: string, bounds: { min: number; max: number }): number {
  const bytes = scaled(key, text, sizeUnitsBytes, 'a size unit: B, KB, KiB, MB or MiB');
  if (!Number.isInteger(bytes)) throw invalidSpec(key, text, 'is not a whole number of bytes');
  if (bytes < bounds.min || bytes > bounds.max) throw invalidSpec(key, text, `is outside ${bounds.min}..${bounds.max} bytes`);
  return bytes;
}

/** A seed: an unsigned 32-bit integer, because Prng keeps 32 bits of it. */
export function parseSeed(key: string, text: string): number {
  if (!/^\d+$/.test(text)) throw invalidSpec(key, text, 'is not an unsigned integer');
  const seed = Number(text);
  if (seed > 0xffff_ffff) throw invalidSpec(key, text, 'exceeds 4294967295');
  return seed;
}

export function formatDurationMs(ms: number): string {
  return `${ms}ms`;
}

export function formatRate(bitsPerSecond: number): string {
  for (const [unit, scale] of [
    ['gbit', 1e9],
    ['mbit', 1e6],
    ['kbit', 1e3],
  ] as const) {
    // Only whole multiples, so parsing the text gives back the exact same number.
    if (Number.isInteger(bitsPerSecond / scale)) return `${bitsPerSecond / scale}${unit}`;
  }
  return `${bitsPerSecond}bit`;
}

export function formatSize(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)}MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024}KiB`;
  return `${bytes}B`;
}
