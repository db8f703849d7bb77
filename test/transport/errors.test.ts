import { describe, expect, it } from 'vitest';
import { Cluster } from '../../sdk/cluster.js';
import { resolveSkeinOptions } from '../../sdk/options.js';
import { type ErrorCode, SkeinError, errorFromWire, errorSemantics, errorTable } from '../../transport/errors.js';

const codes = Object.keys(errorTable) as ErrorCode[];

describe('the error table', () => {
  it('gives every code a message', () => {
    for (const code of codes) expect([code, errorSemantics(code).message.length > 0]).toEqual([code, true]);
  });

  it('errors carry the retriable column, also when rebuilt from the wire', () => {
    for (const code of codes) {
      expect([code, new SkeinError(code).retriable]).toEqual([code, errorTable[code].retriable]);
      expect([code, errorFromWire({ code, message: 'm' }).retriable]).toEqual([code, errorTable[code].retriable]);
    }
  });

  it("the SDK refreshes a topic's metadata after exactly the failures whose code says it may be stale", () => {
    const cluster = new Cluster(resolveSkeinOptions({ brokers: ['127.0.0.1:1'] }), () => Promise.reject(new SkeinError('CONNECTION_REFUSED')));
    const staleAfter: ErrorCode[] = [];
    for (const code of codes) {
      const invalidated: string[] = [];
      cluster.metadata.invalidate = (topic) => void invalidated.push(topic);
      const verdict = cluster.classify(new SkeinError(code), { topic: 't', partition: 0, brokerId: 1 });
      expect([code, verdict]).toEqual([code, errorTable[code].retriable ? 'retry' : 'fatal']);
      if (invalidated.length > 0) staleAfter.push(code);
    }
    expect(staleAfter).toEqual(codes.filter((code) => errorSemantics(code).staleMetadata === true));
    expect(staleAfter).toEqual(expect.arrayContaining(['NOT_LEADER', 'TIMEOUT', 'PEER_DEAD', 'UNKNOWN_PARTITION']));
  });
});
