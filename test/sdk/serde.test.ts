import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serdes } from '../../sdk/serde.js';
import { defineTopic, resolveTopic } from '../../sdk/topic.js';
import { isSkeinError } from '../../transport/errors.js';

// Plain data as CBOR carries it: no undefined, no -0 (CBOR keeps it, JSON does not), no sparse arrays.
const plainData = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)),
    fc.string(),
    tie('array'),
    tie('object'),
  ),
  array: fc.array(tie('value'), { maxLength: 5 }),
  object: fc.dictionary(fc.string().filter((k) => k !== '__proto__'), tie('value'), { maxKeys: 5 }),
}));

describe('serdes', () => {
  it('CBOR round-trips plain data and byte strings', () => {
    const cbor = serdes.cbor<unknown>();
    fc.assert(fc.property(plainData.value, (value) => {
      expect(cbor.deserialize(cbor.serialize(value))).toEqual(value);
    }));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const back = cbor.deserialize(cbor.serialize(bytes));
        expect(back).toBeInstanceOf(Uint8Array);
        expect(Buffer.isBuffer(back)).toBe(false);
        expect([...(back as Uint8Array)]).toEqual([...bytes]);
      }),
    );
  });

  it('CBOR results stay valid after later encodes (no shared scratch buffer leaks)', () => {
    const cbor = serdes.cbor<unknown>();
    const first = cbor.serialize({ a: 'first' });
    const copy = Uint8Array.from(first);
    for (let i = 0; i < 1000; i++) cbor.serialize({ filler: 'x'.repeat(100), i });
    expect([...first]).toEqual([...copy]);
  });

  it('JSON round-trips JSON values', () => {
    const json = serdes.json<unknown>();
    fc.assert(fc.property(fc.jsonValue(), (value) => {
      expect(json.deserialize(json.serialize(value))).toEqual(JSON.parse(JSON.stringify(value)));
    }));
  });

  it('string and bytes serdes round-trip and refuse the wrong type', () => {
    const string = serdes.string();
    const bytes = serdes.bytes();
    fc.assert(fc.property(fc.string(), (s) => {
      expect(string.deserialize(string.serialize(s))).toBe(s);
    }));
    fc.assert(fc.property(fc.uint8Array(), (b) => {
      expect([...bytes.deserialize(bytes.serialize(b))]).toEqual([...b]);
    }));
    expect(() => string.serialize(42 as unknown as string)).toThrow(TypeError);
    expect(() => bytes.serialize('x' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => serdes.json().serialize(undefined)).toThrow(TypeError);
    expect(() => serdes.cbor().serialize(undefined)).toThrow(TypeError);
  });

  it('deserializers throw on bad bytes rather than returning garbage', () => {
    expect(() => serdes.string().deserialize(Uint8Array.of(0xff, 0xfe))).toThrow();
    expect(() => serdes.json().deserialize(new TextEncoder().encode('{not json'))).toThrow();
    expect(() => serdes.cbor().deserialize(Uint8Array.of(0x5f))).toThrow();
  });

  it('the bytes serde hands out a copy, not a view into the fetched batch', () => {
    const batch = Uint8Array.of(1, 2, 3, 4);
    const value = serdes.bytes().deserialize(batch.subarray(1, 3));
    batch[1] = 99;
    expect([...value]).toEqual([2, 3]);
  });
});

describe('the CBOR serde against hostile producers', () => {
  it('refuses tagged CBOR instead of letting cbor-x build objects from it', () => {
    // Tag 27 ["Error", "boom"]: cbor-x would construct an Error from the peer's data.
    const tagged = Uint8Array.from([0xd8, 0x1b, 0x82, 0x65, ...Buffer.from('Error'), 0x64, ...Buffer.from('boom')]);
    expect(() => serdes.cbor().deserialize(tagged)).toThrow(/not plain CBOR/);
    // A bignum (tag 2) is refused too: cbor-x decodes large ones in quadratic time.
    expect(() => serdes.cbor().deserialize(Uint8Array.from([0xc2, 0x41, 0x01]))).toThrow(/not plain CBOR/);
    expect(serdes.cbor().deserialize(serdes.cbor().serialize({ plain: [1, 'two', null] }))).toEqual({ plain: [1, 'two', null] });
    // What cbor-x would tag on the way out is refused on the way out too, so nothing unreadable is ever acknowledged.
    for (const value of [new Date(0), new Map([[1, 2]]), new Set([1]), 2n ** 70n]) {
      expect(() => serdes.cbor().serialize(value), String(value)).toThrow(/not plain CBOR/);
    }
  });
});

describe('typed topics', () => {
  it('binds serdes to a name, CBOR by default', () => {
    const orders = defineTopic<{ id: number }, string>('orders', { key: serdes.string() });
    expect(orders.name).toBe('orders');
    expect(new TextDecoder().decode(orders.key.serialize('k'))).toBe('k');
    expect(orders.value.deserialize(orders.value.serialize({ id: 7 }))).toEqual({ id: 7 });
    expect(resolveTopic(orders, 'x')).toBe(orders);
    expect(resolveTopic('plain', 'x').name).toBe('plain');
  });

  it('refuses bad names and bad serdes with INVALID_ARGUMENT', () => {
    for (const bad of ['', '.', '..', 'has space', 'a'.repeat(250), 'ü']) {
      expect(() => defineTopic(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
    expect(() => defineTopic('t', { value: {} as never })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    for (const bad of [42, null, {}, { name: 'forged' }]) {
      try {
        resolveTopic(bad as never, 'send');
        expect.unreachable();
      } catch (error) {
        expect(isSkeinError(error, 'INVALID_ARGUMENT')).toBe(true);
      }
    }
  });
});
