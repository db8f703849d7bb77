import { SkeinError } from '../errors.js';

/**
 * Small readers for request and response bodies that arrive as decoded CBOR.
 * A body is hostile until read through these: every failure is a
 * MALFORMED_REQUEST naming the field, never a TypeError deep in a handler.
 */

export class BodyReader {
  private readonly body: Record<string, unknown>;

  constructor(
    body: unknown,
    private readonly where: string,
  ) {
    if (typeof body !== 'object' || body === null || Array.isArray(body) || body instanceof Uint8Array) {
      throw malformed(`${where} must be a map`);
    }
    this.body = body as Record<string, unknown>;
  }

  has(key: string): boolean {
    return this.body[key] !== undefined && this.body[key] !== null;
  }

  raw(key: string): unknown {
    return this.body[key];
  }

  string(key: string, options: { bytesMax?: number; optional?: false }): string;
  string(key: string, options: { bytesMax?: number; optional: true }): string | undefined;
  string(key: string, options: { bytesMax?: number; optional?: boolean }): string | undefined {
    const value = this.body[key];
    if ((value === undefined || value === null) && options.optional) return undefined;
    if (typeof value !== 'string') throw malformed(`${this.where}.${key} must be a string`);
    if (options.bytesMax !== undefined && Buffer.byteLength(value) > options.bytesMax) {
      throw malformed(`${this.where}.${key} is longer than ${options.bytesMax} bytes`);
    }
    return value;
  }

  /** A safe integer within [min, max]. */
  int(key: string, options: { min: number; max: number; optional?: false }): number;
  int(key: string, options: { min: number; max: number; optional: true }): number | undefined;
  int(key: string, options: { min: number; max: number; optional?: boolean }): number | undefined {
    const value = this.body[key];
    if ((value === undefined || value === null) && options.optional) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      throw malformed(`${this.where}.${key} must be an integer`);
    }
    if (value < options.min || value > options.max) {
      throw malformed(`${this.where}.${key} must be between ${options.min} and ${options.max}, got ${value}`);
    }
    return value;
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.body[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean') throw malformed(`${this.where}.${key} must be a boolean`);
    return value;
  }

  bytes(key: string, options: { bytesMax: number }): Uint8Array {
    const value = this.body[key];
    if (!(value instanceof Uint8Array)) throw malformed(`${this.where}.${key} must be a byte string`);
    if (value.byteLength > options.bytesMax) {
      throw new SkeinError('RECORD_TOO_LARGE', {
        message: `${this.where}.${key} is ${value.byteLength} bytes, over the limit of ${options.bytesMax}`,
      });
    }
    return value;
  }

  oneOf<const T extends string>(key: string, allowed: readonly T[], fallback?: T): T {
    const value = this.body[key];
    if ((value === undefined || value === null) && fallback !== undefined) return fallback;
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      throw malformed(`${this.where}.${key} must be one of ${allowed.join(', ')}`);
    }
    return value as T;
  }

  list<T>(key: string, options: { lengthMax: number; optional?: boolean }, item: (value: unknown, where: string) => T): T[] | undefined {
    const value = this.body[key];
    if ((value === undefined || value === null) && options.optional) return undefined;
    if (!Array.isArray(value)) throw malformed(`${this.where}.${key} must be a list`);
    if (value.length > options.lengthMax) throw malformed(`${this.where}.${key} has more than ${options.lengthMax} items`);
    return value.map((entry, i) => item(entry, `${this.where}.${key}[${i}]`));
  }

  reader(key: string): BodyReader {
    return new BodyReader(this.body[key], `${this.where}.${key}`);
  }
}

export function malformed(message: string): SkeinError {
  return new SkeinError('MALFORMED_REQUEST', { message });
}
