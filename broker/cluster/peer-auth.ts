import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SkeinError } from '../../transport/errors.js';
import { brokerLimits } from '../../transport/limits.js';
import { BodyReader } from '../../transport/protocol/validate.js';

/**
 * Proof that a connection comes from a broker of the cluster. The brokers
 * share a secret; the dialling broker asks the other for a fresh random
 * challenge and answers it with HMAC-SHA256(secret, label, its id, the id of
 * the broker it dialled, the challenge). Only then does the other accept
 * Raft messages (and forwarded controller requests) on that connection, and
 * only in that broker's name. The challenge is new for every connection and
 * used once, and the proof names whom it is for, so a proof seen on one
 * connection (or relayed from an impostor's) is worth nothing on another.
 * Traffic is only ever taken on a connection the sender dialled: a broker
 * sends Raft and controller requests over its own links, so nothing that
 * arrives on a link we dialled is taken as a peer's (whoever answers at an
 * address has proved nothing). Only the handshake is authenticated: later
 * packets carry no MAC, so this keeps out other clients of the port, not an
 * attacker on the network path. Without a secret the brokers trust the
 * network, as before: anyone who can reach a broker's port can speak for a peer.
 */
export const peerAuthMethods = {
  challenge: 'peerChallenge',
  hello: 'peerHello',
} as const;

const label = 'skein-peer-v1';
const challengeBytes = 32;
/** HMAC-SHA256. */
const proofBytes = 32;

export function newChallenge(): Uint8Array {
  return new Uint8Array(randomBytes(challengeBytes));
}

/** What broker `proverId` answers to a challenge from broker `verifierId`. */
export function peerProof(secret: string, proverId: number, verifierId: number, challenge: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', secret).update(`${label}\0${proverId}\0${verifierId}\0`).update(challenge).digest());
}

/** The broker id a hello to broker `selfId` proves, or a NOT_AUTHORIZED error. The challenge must be the one this side issued. */
export function verifyHello(secret: string, selfId: number, challenge: Uint8Array | null, body: unknown): number {
  const r = new BodyReader(body, 'peerHello');
  const id = r.int('id', { min: 1, max: brokerLimits.brokerIdMax });
  const proof = r.bytes('proof', { bytesMax: proofBytes });
  if (challenge === null) throw new SkeinError('NOT_AUTHORIZED', { message: 'peerHello before peerChallenge' });
  if (id === selfId) throw new SkeinError('NOT_AUTHORIZED', { message: `broker ${selfId} does not dial itself` });
  const expected = peerProof(secret, id, selfId, challenge);
  if (proof.byteLength !== proofBytes || !timingSafeEqual(proof, expected)) {
    throw new SkeinError('NOT_AUTHORIZED', { message: `the proof for broker ${id} does not match the cluster's peer secret` });
  }
  return id;
}

export function readChallenge(body: unknown): Uint8Array {
  const challenge = new BodyReader(body, 'peerChallenge response').bytes('challenge', { bytesMax: challengeBytes });
  if (challenge.byteLength !== challengeBytes) throw new SkeinError('PROTOCOL_VIOLATION', { message: `a peer challenge is ${challengeBytes} bytes` });
  return challenge;
}
