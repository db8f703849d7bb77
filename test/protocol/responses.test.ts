import { describe, expect, it } from 'vitest';
import { isSkeinError } from '../../transport/errors.js';
import { producerProofBytesMax } from '../../transport/protocol/messages.js';
import {
  readBatches,
  readCommitResponse,
  readDescribeClusterResponse,
  readDescribeGroupResponse,
  readFindCoordinatorResponse,
  readHeartbeatResponse,
  readInitProducerResponse,
  readListGroupsResponse,
  readListOffsetsResponse,
  readMetadataResponse,
  readProduceResponse,
} from '../../transport/protocol/responses.js';

/** Expects `read(body)` to refuse the body as a PROTOCOL_VIOLATION whose message says `what`. */
function refuses(read: (body: unknown) => unknown, body: unknown, what: RegExp): void {
  let thrown: unknown;
  try {
    read(body);
  } catch (error) {
    thrown = error;
  }
  expect(isSkeinError(thrown, 'PROTOCOL_VIOLATION'), String(thrown)).toBe(true);
  expect((thrown as Error).message).toMatch(what);
}

const partition = { partition: 0, leader: 1, leaderEpoch: 3, replicas: [1, 2, 3] };
const metadata = { clusterId: 'c', controllerId: 1, brokers: [{ id: 1, host: '127.0.0.1', port: 9092 }], topics: [{ name: 't', topicId: 7, partitions: [partition] }] };

describe('response readers', () => {
  it('take well-formed answers, with defaults for what older brokers leave out', () => {
    expect(readProduceResponse({ baseOffset: 5 })).toEqual({ baseOffset: 5, duplicate: false });
    expect(readProduceResponse({ baseOffset: 0, duplicate: true })).toEqual({ baseOffset: 0, duplicate: true });
    expect(readListOffsetsResponse({ offset: 9 })).toEqual({ offset: 9 });
    const batches = new Uint8Array(3);
    expect(readBatches({ batches }, 'push')).toBe(batches);
    expect(readMetadataResponse(metadata)).toEqual({ ...metadata, missing: [] });
    expect(readMetadataResponse({ ...metadata, controllerId: 'x', clusterId: undefined })).toMatchObject({ clusterId: '', controllerId: null });
    expect(readDescribeClusterResponse({ clusterId: 'c', controllerId: null, brokers: [] }).brokers).toEqual([]);
  });

  it('refuse broken ones as PROTOCOL_VIOLATION, naming the answer and the field', () => {
    for (const body of [null, 7, {}, { baseOffset: -1 }, { baseOffset: 1.5 }, { baseOffset: '3' }]) refuses(readProduceResponse, body, /produce response: baseOffset/);
    for (const body of [null, { offset: 2 ** 53 }]) refuses(readListOffsetsResponse, body, /listOffsets response: offset/);
    refuses((body) => readBatches(body, 'fetch response'), { batches: [1, 2] }, /fetch response: batches must be bytes/);
    refuses(readMetadataResponse, 'x', /metadata response: not a map/);
    refuses(readMetadataResponse, { ...metadata, topics: undefined }, /brokers and topics must be lists/);
    refuses(readMetadataResponse, { ...metadata, brokers: [null] }, /a broker needs id, host and port/);
    refuses(readMetadataResponse, { ...metadata, topics: [{ name: 't', topicId: 7 }] }, /a topic needs name, topicId and partitions/);
    refuses(readMetadataResponse, { ...metadata, topics: [{ name: 't', topicId: 7, partitions: [{ ...partition, replicas: 3 }] }] }, /partition metadata of t/);
    refuses(readDescribeClusterResponse, { brokers: {} }, /describeCluster response: brokers must be a list/);
  });

  it('take an issued producer id up to its edges, and refuse one past them', () => {
    const proof = new Uint8Array(producerProofBytesMax);
    expect(readInitProducerResponse({ producerId: 0, producerEpoch: 0x7fff, proof })).toEqual({ producerId: 0, producerEpoch: 0x7fff, proof });
    const good = { producerId: 5, producerEpoch: 0, proof: new Uint8Array(1) };
    for (const body of [
      null,
      { ...good, producerId: -1 },
      { ...good, producerId: 2 ** 53 },
      { ...good, producerEpoch: 0x8000 },
      { ...good, producerEpoch: 0.5 },
      { ...good, proof: new Uint8Array(0) },
      { ...good, proof: new Uint8Array(producerProofBytesMax + 1) },
      { ...good, proof: [1] },
    ]) {
      refuses(readInitProducerResponse, body, /initProducer response: it needs a producerId, an int16 producerEpoch and a proof/);
    }
  });

  it('group answers: well-formed ones are taken, fields newer than the broker read as empty, broken ones refused naming the field', () => {
    expect(readFindCoordinatorResponse({ topic: '__skein_groups', partition: 3, partitions: 16 })).toEqual({ topic: '__skein_groups', partition: 3, partitions: 16 });
    for (const body of [null, { topic: 't', partition: 16, partitions: 16 }, { topic: 't', partition: -1, partitions: 16 }, { partition: 0, partitions: 1 }]) {
      refuses(readFindCoordinatorResponse, body, /findCoordinator response: it needs topic, partition and partitions/);
    }

    const beat = { memberId: 'm', memberEpoch: 4, groupEpoch: 5, heartbeatIntervalMs: 1000, pending: 0, assignment: [{ topic: 't', topicId: 2, partition: 1, committed: null }] };
    expect(readHeartbeatResponse(beat)).toEqual(beat);
    refuses(readHeartbeatResponse, { ...beat, pending: undefined }, /groupHeartbeat response: memberId, memberEpoch/);
    refuses(readHeartbeatResponse, { ...beat, memberEpoch: 1.5 }, /groupHeartbeat response: memberId, memberEpoch/);
    for (const a of [{ topic: 't', topicId: 2, partition: 1 }, { topic: 't', topicId: 2, partition: 1, committed: -1 }, { topic: 7, topicId: 2, partition: 1, committed: 0 }]) {
      refuses(readHeartbeatResponse, { ...beat, assignment: [a] }, /an assigned partition needs topic, topicId, partition and committed/);
    }

    expect(readCommitResponse({ offsets: [{ topic: 't', partition: 0, offset: 9 }] }, 'offsetCommit response').offsets).toEqual([{ topic: 't', partition: 0, offset: 9 }]);
    refuses((b) => readCommitResponse(b, 'resetOffsets response'), { offsets: [{ topic: 't', partition: 0 }] }, /resetOffsets response: offsets must be a list/);
    expect(readListGroupsResponse({ groups: [{ group: 'g', state: 'stable', members: 2 }] }).groups).toHaveLength(1);
    refuses(readListGroupsResponse, { groups: [{ group: 'g', state: 'stable' }] }, /listGroups response: groups must be a list/);

    const member = { memberId: 'm', instanceId: null, clientId: 'c', clientHost: 'h', epoch: 3, topics: ['t'], assignment: [{ topic: 't', partition: 0 }], revoking: [], target: [], away: false, joinedAtMs: 1, lastHeardAgoMs: null };
    const described = { group: 'g', state: 'stable', epoch: 3, coordinator: { brokerId: 1, partition: 4 }, members: [member], offsets: [{ topic: 't', partition: 0, offset: 2, committedAtMs: 5 }], held: [] };
    expect(readDescribeGroupResponse(described)).toEqual({ ...described, members: [{ ...member, progress: [] }], counts: [] });
    const progress = { topic: 't', partition: 0, fetched: 9, finished: null, idleMs: 10, deadLettered: 1, skipped: 0 };
    const counts = [{ topic: 't', partition: 0, deadLettered: 1, skipped: 2 }];
    expect(readDescribeGroupResponse({ ...described, members: [{ ...member, progress: [progress] }], counts })).toMatchObject({ members: [{ progress: [progress] }], counts });
    refuses(readDescribeGroupResponse, { ...described, epoch: undefined }, /describeGroup response: group, state and epoch/);
    refuses(readDescribeGroupResponse, { ...described, coordinator: { brokerId: 1 } }, /coordinator needs brokerId and partition/);
    refuses(readDescribeGroupResponse, { ...described, members: [{ ...member, away: 'no' }] }, /a member needs memberId/);
    refuses(readDescribeGroupResponse, { ...described, members: [{ ...member, progress: [{ ...progress, fetched: undefined }] }] }, /a member needs memberId/);
    refuses(readDescribeGroupResponse, { ...described, counts: [{ topic: 't', partition: 0, deadLettered: -1, skipped: 0 }] }, /offsets, held and counts must be lists/);
  });
});
