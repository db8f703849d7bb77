import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serdes } from '../../sdk/serde.js';
import { defineTopic } from '../../sdk/topic.js';
import { SkeinError } from '../../transport/errors.js';
import { FakeCluster, fakeClient } from './support/harness.js';

const numbers = defineTopic<number>('t', { value: serdes.json<number>() });

type Fault = 'none' | 'notLeaderMove' | 'notLeaderNoHint' | 'leaderNotAvailable' | 'writtenThenSilent' | 'dropConnections' | 'delay';
const faults: Fault[] = ['none', 'notLeaderMove', 'notLeaderNoHint', 'leaderNotAvailable', 'writtenThenSilent', 'dropConnections', 'delay'];

describe('idempotent producer under random faults', () => {
  it('writes every acknowledged record exactly once, in send order, whatever fails on the way', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...faults), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 120, max: 400 }),
        async (plan, inFlightMax, batchBytesMax) => {
          const cluster = new FakeCluster({ brokers: 3 });
          cluster.createTopic('t', { partitions: 1, leaders: [1] });
          let request = 0;
          const nextLeader = (): number => ((cluster.partition('t', 0).leader ?? 1) % 3) + 1;
          cluster.interceptor = ({ method, brokerId }) => {
            if (method !== 'produce') return undefined;
            const fault = plan[request++] ?? 'none';
            const p = cluster.partition('t', 0);
            if (p.leader !== brokerId) return undefined; // let the broker answer NOT_LEADER itself
            switch (fault) {
              case 'notLeaderMove':
                cluster.moveLeader('t', 0, nextLeader());
                return undefined;
              case 'notLeaderNoHint':
                return { fail: new SkeinError('NOT_LEADER') };
              case 'leaderNotAvailable':
                return { fail: new SkeinError('LEADER_NOT_AVAILABLE') };
              case 'writtenThenSilent':
                setTimeout(() => cluster.moveLeader('t', 0, nextLeader()), 1);
                return { handleThenDrop: true };
              case 'dropConnections':
                setImmediate(() => cluster.dropConnections());
                return { delayMs: 1 };
              case 'delay':
                return { delayMs: 3 };
              default:
                return undefined;
            }
          };
          // Faults are finite, so every record gets through; the deadline only has to outlast the longest run of backoffs.
          const skein = fakeClient(cluster, { requestTimeoutMs: 60, deliveryTimeoutMs: 120_000 });
          const producer = skein.producer({ lingerMs: 0, inFlightMax, batchBytesMax });
          const count = 30;
          const results = await Promise.all(Array.from({ length: count }, (_, i) => producer.send({ topic: numbers, messages: [{ value: i }] })));
          await skein.close();
          const log = cluster.records('t', 0).map((r) => serdes.json<number>().deserialize(r.value!));
          expect(log).toEqual(Array.from({ length: count }, (_, i) => i));
          expect(results.map((r) => r[0]!.offset)).toEqual(Array.from({ length: count }, (_, i) => i));
        },
      ),
      { numRuns: 25 },
    );
  }, 600_000);
});
