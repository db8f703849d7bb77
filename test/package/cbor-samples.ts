/**
 * A module, as text, that the package test writes into an installed project
 * and also imports itself: values for the CBOR serde, and a JSON-able
 * description of whatever comes back, so the bundled codec and the
 * development one can be compared byte for byte and value for value.
 */
export const cborSamplesModule = `
export const samples = [
  0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -24, -25, -256, -(2 ** 53 - 1),
  1.5, -0.25, 0.1, 1e300, -1e-300, Number.MAX_VALUE,
  '', 'a', 'grüße, 東京, 🙂', 'x'.repeat(23), 'y'.repeat(24), 'z'.repeat(300), 'w'.repeat(70000),
  true, false, null,
  new Uint8Array(0), new Uint8Array([0, 1, 2, 255]), new Uint8Array(70000).fill(7),
  [], [1, [2, [3, [4]]]], Array.from({ length: 30 }, (_, i) => i * 1000),
  {}, { a: 1, b: 'two', c: [3], d: { e: null } },
  { topic: 'orders', partition: 3, acks: 'all', batch: new Uint8Array([0xde, 0xad, 0xbe, 0xef]), timeoutMs: 30000 },
  Object.fromEntries(Array.from({ length: 40 }, (_, i) => ['key' + i, { n: i, s: 'v' + i }])),
];

export function describe(value) {
  if (value instanceof Uint8Array) return { bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex') };
  if (value === undefined) return { undefined: true };
  if (typeof value === 'number') return { number: Object.is(value, -0) ? '-0' : String(value) };
  if (Array.isArray(value)) return value.map(describe);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, describe(v)]));
  return value;
}

/** Each sample's CBOR bytes in hex, and what decoding those bytes and each given hex string gives. */
export function run(serde, extraHex) {
  const encoded = samples.map((value) => Buffer.from(serde.serialize(value)).toString('hex'));
  const decoded = [...encoded, ...extraHex].map((hex) => describe(serde.deserialize(new Uint8Array(Buffer.from(hex, 'hex')))));
  return { encoded, decoded };
}
`;
