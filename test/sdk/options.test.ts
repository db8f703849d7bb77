import { describe, expect, it, vi } from 'vitest';
import { formatAddress, parseBrokerAddress } from '../../sdk/address.js';
import { resolveSkeinOptions } from '../../sdk/options.js';
import { Skein } from '../../sdk/client.js';
import { resolveProducerOptions } from '../../sdk/producer/producer.js';
import { sdkLimits } from '../../transport/limits.js';

describe('client options', () => {
  it('parses bootstrap addresses, IPv6 included', () => {
    expect(parseBrokerAddress('127.0.0.1:9092')).toEqual({ host: '127.0.0.1', port: 9092 });
    expect(parseBrokerAddress('broker-1.example:1')).toEqual({ host: 'broker-1.example', port: 1 });
    expect(parseBrokerAddress('[::1]:9092')).toEqual({ host: '::1', port: 9092 });
    expect(formatAddress({ host: '::1', port: 9092 })).toBe('[::1]:9092');
    for (const bad of ['', 'host', ':9092', 'host:', 'host:0', 'host:65536', 'host:12a', '::1:9092', 'a b:1', 9092, null]) {
      expect(typeof parseBrokerAddress(bad)).toBe('string');
    }
  });

  it('applies defaults', () => {
    const options = resolveSkeinOptions({ brokers: ['127.0.0.1:9092'] });
    expect(options).toMatchObject({
      clientId: 'skein',
      requestTimeoutMs: sdkLimits.requestTimeoutMsDefault,
      deliveryTimeoutMs: sdkLimits.deliveryTimeoutMsDefault,
      bootstrapTimeoutMs: sdkLimits.bootstrapTimeoutMsDefault,
      brokers: [{ host: '127.0.0.1', port: 9092 }],
    });
    // The first-contact window at its edges: a millisecond, and as long as the longest delivery deadline.
    expect(resolveSkeinOptions({ brokers: ['a:1'], bootstrapTimeoutMs: 1 }).bootstrapTimeoutMs).toBe(1);
    expect(resolveSkeinOptions({ brokers: ['a:1'], bootstrapTimeoutMs: sdkLimits.deliveryTimeoutMsMax }).bootstrapTimeoutMs).toBe(sdkLimits.deliveryTimeoutMsMax);
  });

  it('refuses bad options with INVALID_CONFIG naming the option', () => {
    const cases: [unknown, RegExp][] = [
      [undefined, /brokers must be a non-empty list/],
      [{ brokers: [] }, /brokers must be a non-empty list/],
      [{ brokers: 'a:1' }, /brokers must be a non-empty list/],
      [{ brokers: ['a:1', 'nope'] }, /brokers\[1\]/],
      [{ brokers: ['a:1'], clientId: 7 }, /clientId/],
      [{ brokers: ['a:1'], clientId: 'x'.repeat(300) }, /clientId/],
      [{ brokers: ['a:1'], requestTimeoutMs: 0 }, /requestTimeoutMs/],
      [{ brokers: ['a:1'], deliveryTimeoutMs: 1.5 }, /deliveryTimeoutMs/],
      [{ brokers: ['a:1'], bootstrapTimeoutMs: 0 }, /bootstrapTimeoutMs/],
      [{ brokers: ['a:1'], bootstrapTimeoutMs: sdkLimits.deliveryTimeoutMsMax + 1 }, /bootstrapTimeoutMs/],
      [{ brokers: ['a:1'], loss: 42 }, /loss/],
      [{ brokers: ['a:1'], brokerz: 1 }, /unknown option "brokerz"/],
      ['not an object', /options must be an object/],
    ];
    for (const [options, message] of cases) {
      expect(() => resolveSkeinOptions(options)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringMatching(message) }));
    }
  });

  it('parses a loss spec when the client is made: a typo fails new Skein(), naming the option and the key', () => {
    const error = (() => {
      try {
        new Skein({ brokers: ['127.0.0.1:9092'], loss: 'loss=2' });
      } catch (caught) {
        return caught;
      }
      return null;
    })();
    expect(error).toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringMatching(/^new Skein\(\): loss: .*loss/), details: { key: 'loss', value: '2' } });
  });
});

describe('producer options', () => {
  it('defaults to idempotent acks all', () => {
    expect(resolveProducerOptions(undefined, 1000)).toMatchObject({ acks: 'all', idempotent: true, inFlightMax: sdkLimits.producerInFlightDefault, deliveryTimeoutMs: 1000 });
    expect(resolveProducerOptions({ acks: 'leader' }, 1000)).toMatchObject({ acks: 'leader', idempotent: false });
    expect(resolveProducerOptions({ acks: 'none' }, 1000)).toMatchObject({ acks: 'none', idempotent: false });
  });

  it('refuses contradictions and out-of-range values', () => {
    const cases: [unknown, RegExp][] = [
      [{ acks: 'leader', idempotent: true }, /idempotent: true needs acks: 'all'/],
      [{ acks: 'some' }, /acks must be one of/],
      [{ inFlightMax: 0 }, /inFlightMax/],
      [{ inFlightMax: sdkLimits.producerInFlightMax + 1 }, /inFlightMax/],
      [{ lingerMs: -1 }, /lingerMs/],
      [{ batchBytesMax: 10 }, /batchBytesMax/],
      [{ partitioner: 'murmur' }, /partitioner must be a function/],
      [{ idempotent: 'yes' }, /idempotent must be true or false/],
    ];
    for (const [options, message] of cases) {
      expect(() => resolveProducerOptions(options, 1000)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringMatching(message) }));
    }
  });
});

describe('renamed options (README: "Option names")', () => {
  it('reads each old name as its new one for one release, warns once per name, and refuses both names given', () => {
    const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      expect(resolveProducerOptions({ maxInFlight: 3 }, 1000)).toMatchObject({ inFlightMax: 3 });
      expect(resolveProducerOptions({ maxInFlight: 2 }, 1000)).toMatchObject({ inFlightMax: 2 });
      // The range and the message are the new name's.
      expect(() => resolveProducerOptions({ maxInFlight: sdkLimits.producerInFlightMax + 1 }, 1000)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringMatching(/inFlightMax must be/) }));
      expect(() => resolveProducerOptions({ maxInFlight: 3, inFlightMax: 3 }, 1000)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringMatching(/maxInFlight is the old name of inFlightMax/) }));
      // An old name is read only where its new name is an option.
      expect(() => resolveProducerOptions({ maxRecords: 3 }, 1000)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringMatching(/unknown option "maxRecords"/) }));
      expect(emitWarning.mock.calls).toEqual([['skein: the option maxInFlight is now inFlightMax; the old name is read until the next release', { type: 'DeprecationWarning', code: 'SKEIN_RENAMED_OPTION' }]]);
    } finally {
      emitWarning.mockRestore();
    }
  });

  it('the consumer, fetch, push and group options take the old names too', async () => {
    const skein = new Skein({ brokers: ['127.0.0.1:1'], clientId: 'renamed' });
    const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const consumer = skein.consumer({ topic: 't', maxRecords: 5, maxWaitMs: 0 });
      const fields = consumer as unknown as { iterationRecords: number; iterationWaitMs: number };
      expect([fields.iterationRecords, fields.iterationWaitMs]).toEqual([5, 0]);
      await expect(consumer.fetch({ maxRecords: 1, recordsMax: 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/maxRecords is the old name of recordsMax/) });
      await consumer.close();
      expect(() => skein.subscribe({ topic: 't', handler: () => {}, maxInFlight: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringMatching(/inFlightMax must be/) }));
      expect(() => skein.subscribe({ group: 'g', topic: 't', handler: () => {}, retry: { maxAttempts: 0 } })).toThrow(expect.objectContaining({ message: expect.stringMatching(/attemptsMax must be/) }));
    } finally {
      emitWarning.mockRestore();
      await skein.close();
    }
  });
});
