import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peerAuthMethods, peerProof, readChallenge, verifyHello } from '../../broker/cluster/peer-auth.js';
import { peerMethods } from '../../broker/cluster/peers.js';
import { raftEnvelopeToWire } from '../../broker/raft/codec.js';
import { Endpoint } from '../../transport/endpoint.js';
import { isSkeinError, SkeinError } from '../../transport/errors.js';
import { methods, protocolVersion } from '../../transport/protocol/messages.js';
import { RpcChannel } from '../../transport/rpc/index.js';
import { freePorts, InProcessCluster, testPeerSecret } from './support/cluster.js';

/**
 * With a peer secret, only a connection that proved it is a broker of the
 * cluster may speak as one: Raft traffic from anyone else is dropped and
 * counted, forwarded controller requests are refused, and the cluster itself
 * (whose links do prove themselves) works as before.
 */
let cluster: InProcessCluster;
let endpoint: Endpoint;

type Internals = {
  counters: { peerRejected: number };
  controller: { raft: { status(): { term: number }; counters: { votesIgnoredInLease: number } } };
  peers: { counters: { restartsSeen: number } };
};
const internals = (id: number): Internals => cluster.brokers.get(id) as unknown as Internals;

async function channelTo(id: number): Promise<RpcChannel> {
  const rpc = new RpcChannel(await endpoint.connect({ host: '127.0.0.1', port: cluster.ports[id - 1]! }));
  await rpc.request(methods.hello, { version: protocolVersion, clientId: 'peer-auth-test' });
  return rpc;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'OK';
  } catch (error) {
    if (error instanceof SkeinError) return error.code;
    throw error;
  }
}

const hugeTerm = 1_000_000;
function vote(from: number, to: number): ReturnType<typeof raftEnvelopeToWire> {
  return raftEnvelopeToWire({ group: 'meta', message: { type: 'vote', from, to, term: hugeTerm, lastIndex: 1e9, lastTerm: hugeTerm, transfer: false } });
}

/** Waits until `read()` moves past `before`, or a second passes. */
async function movedPast(read: () => number, before: number): Promise<number> {
  for (let i = 0; read() === before && i < 50; i++) await new Promise((r) => setTimeout(r, 20));
  return read();
}

beforeAll(async () => {
  cluster = new InProcessCluster(3);
  await cluster.start();
  endpoint = await Endpoint.open({ host: '127.0.0.1', loss: null });
}, 60_000);

afterAll(async () => {
  await endpoint?.close();
  await cluster?.close();
});

describe('peer links prove themselves with the cluster secret', () => {
  it('the cluster, whose links prove themselves, creates topics and replicates', async () => {
    const rpc = await channelTo(1);
    let code = '';
    for (let i = 0; i < 100 && code !== 'OK'; i++) {
      code = await codeOf(rpc.request(methods.createTopic, { name: 'authed', partitions: 1, replicationFactor: 3 }, { timeoutMs: 10_000 }));
      if (code !== 'OK') await new Promise((r) => setTimeout(r, 100));
    }
    expect(code).toBe('OK');
    await rpc.close();
  });

  it('drops Raft messages from a connection that has not proved itself, and refuses its forwarded controller requests', async () => {
    const rpc = await channelTo(2);
    const rejected = internals(2).counters.peerRejected;
    const ignored = internals(2).controller.raft.counters.votesIgnoredInLease;
    const restartsSeen = internals(2).peers.counters.restartsSeen;
    // A vote request in a huge term: taken, it would raise the group's term (or be counted as ignored in the leader's lease).
    // Its incarnation, taken, would make broker 2 believe broker 1 restarted and drop its link to it.
    await rpc.notify(peerMethods.raft, { from: 1, incarnation: 7, messages: [vote(1, 2)] });
    expect(await movedPast(() => internals(2).counters.peerRejected, rejected)).toBe(rejected + 1);
    expect(internals(2).peers.counters.restartsSeen).toBe(restartsSeen);
    expect(internals(2).controller.raft.status().term).toBeLessThan(hugeTerm);
    expect(internals(2).controller.raft.counters.votesIgnoredInLease).toBe(ignored);
    expect(await codeOf(rpc.request(peerMethods.controller, { command: { type: 'registerBroker', broker: { id: 9, host: 'evil', port: 1 } } }))).toBe('NOT_AUTHORIZED');
    await rpc.close();
  });

  it('a wrong proof, a replayed challenge or a hello without one is refused; a right proof speaks for its broker only', async () => {
    const rpc = await channelTo(3);
    expect(await codeOf(rpc.request(peerAuthMethods.hello, { id: 1, proof: new Uint8Array(32) }))).toBe('NOT_AUTHORIZED');
    const challenge = readChallenge(await rpc.request(peerAuthMethods.challenge, {}));
    expect(await codeOf(rpc.request(peerAuthMethods.hello, { id: 1, proof: peerProof('not-the-cluster-secret!', 1, 3, challenge) }))).toBe('NOT_AUTHORIZED');
    // The challenge was spent on the failed attempt: the right proof for it no longer counts.
    expect(await codeOf(rpc.request(peerAuthMethods.hello, { id: 1, proof: peerProof(testPeerSecret, 1, 3, challenge) }))).toBe('NOT_AUTHORIZED');
    const fresh = readChallenge(await rpc.request(peerAuthMethods.challenge, {}));
    expect(await codeOf(rpc.request(peerAuthMethods.hello, { id: 1, proof: peerProof(testPeerSecret, 1, 3, fresh) }))).toBe('OK');
    // Proved to be broker 1: a message in broker 2's name is still refused; one in its own name reaches the replica.
    const rejected = internals(3).counters.peerRejected;
    await rpc.notify(peerMethods.raft, { from: 2, messages: [vote(2, 3)] });
    expect(await movedPast(() => internals(3).counters.peerRejected, rejected)).toBe(rejected + 1);
    const ignored = internals(3).controller.raft.counters.votesIgnoredInLease;
    await rpc.notify(peerMethods.raft, { from: 1, messages: [vote(1, 3)] });
    const reached = (): number => internals(3).controller.raft.counters.votesIgnoredInLease + (internals(3).controller.raft.status().term === hugeTerm ? 1 : 0);
    expect(await movedPast(reached, ignored)).toBeGreaterThan(ignored);
    expect(internals(3).counters.peerRejected).toBe(rejected + 1);
    // A proven broker forwards reports about itself only.
    const report = { op: 'command', command: { type: 'registerBroker', broker: { id: 2, host: 'evil.example', port: 1 } } };
    expect(await codeOf(rpc.request(peerMethods.controller, report))).toBe('NOT_AUTHORIZED');
    await rpc.close();
  });

  it('verifyHello checks the id, whom the proof is for, the proof and the challenge', () => {
    const challenge = new Uint8Array(32).fill(7);
    const secret = 's'.repeat(16);
    expect(verifyHello(secret, 2, challenge, { id: 4, proof: peerProof(secret, 4, 2, challenge) })).toBe(4);
    for (const [key, self, used, body] of [
      [secret, 2, challenge, { id: 5, proof: peerProof(secret, 4, 2, challenge) }],
      // A proof made for broker 3 (relayed by an impostor at 3's address) is worth nothing at broker 2.
      [secret, 2, challenge, { id: 4, proof: peerProof(secret, 4, 3, challenge) }],
      ['t'.repeat(16), 2, challenge, { id: 4, proof: peerProof(secret, 4, 2, challenge) }],
      [secret, 2, new Uint8Array(32), { id: 4, proof: peerProof(secret, 4, 2, challenge) }],
      [secret, 2, null, { id: 4, proof: peerProof(secret, 4, 2, challenge) }],
      [secret, 2, challenge, { id: 2, proof: peerProof(secret, 2, 2, challenge) }],
      // A proof cut short by a byte.
      [secret, 2, challenge, { id: 4, proof: peerProof(secret, 4, 2, challenge).subarray(1) }],
    ] as const) {
      let error: unknown = null;
      try {
        verifyHello(key, self, used, body);
      } catch (e) {
        error = e;
      }
      expect(isSkeinError(error, 'NOT_AUTHORIZED')).toBe(true);
    }
    // A proof longer than an HMAC-SHA256 is refused by size before any comparison.
    const long = Uint8Array.from([...peerProof(secret, 4, 2, challenge), 0]);
    expect(() => verifyHello(secret, 2, challenge, { id: 4, proof: long })).toThrow(expect.objectContaining({ code: 'RECORD_TOO_LARGE' }));
  });
});

describe("an impostor at a broker's address", () => {
  it('proves nothing by answering: what it sends over the links the brokers dialled is refused', async () => {
    const impostorCluster = new InProcessCluster(3);
    impostorCluster.ports = await freePorts(3);
    const impostor = await Endpoint.open({ host: '127.0.0.1', port: impostorCluster.ports[2]!, acceptConnections: true, loss: null });
    const sent: Promise<void>[] = [];
    impostor.onConnection((connection) => {
      const rpc = new RpcChannel(connection, {
        handler: (method) => (method === peerAuthMethods.challenge ? { challenge: new Uint8Array(32) } : {}),
      });
      // Speak as broker 3 over the link a real broker dialled to "3".
      sent.push(rpc.notify(peerMethods.raft, { from: 3, messages: [vote(3, 1), vote(3, 2)] }).catch(() => undefined));
    });
    try {
      await impostorCluster.startBroker(1);
      await impostorCluster.startBroker(2);
      const rejected = (): number => [1, 2].reduce((sum, id) => sum + (impostorCluster.brokers.get(id) as unknown as Internals).counters.peerRejected, 0);
      for (let i = 0; rejected() === 0 && i < 250; i++) await new Promise((r) => setTimeout(r, 20));
      expect(rejected()).toBeGreaterThan(0);
      for (const id of [1, 2]) expect((impostorCluster.brokers.get(id) as unknown as Internals).controller.raft.status().term).toBeLessThan(hugeTerm);
    } finally {
      await Promise.all(sent);
      await impostorCluster.close();
      await impostor.close();
    }
  }, 30_000);
});
