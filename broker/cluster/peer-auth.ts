import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SkeinError } from '../../transport/errors.js';
import { brokerLimits } from '../../transport/limits.js';
import { BodyReader } from '../../transport/protocol/validate.js';

/**
 * Proof that a connection comes from a broker of the cluster. The brokers
 * share a secret; the dialling broker asks the other for a fresh random
 * challenge and answers it with HMAC-SHA256(secret, label, its id, the
 * challenge). Only then does the other accept Raft messages (and forwarded
 * controller requests) on that connection, and only in that broker's name.
 * The challenge is new for every connection and used once, so a proof seen
 * on one connection is worth nothing on another. Without a secret the
 * brokers trust the network, as before: anyone who can reach a broker's port
 * can speak for a peer.
 */
export const peerAuthMethods = {
  challenge: 'peerChallenge',
  hello: 'peerHello',
} as const;

const label = 'skein-peer-v1';
const challengeBytes = 32;

export function newChallenge(): Uint8Array {
  return new Uint8Array(randomBytes(challengeBytes));
}

export function peerProof(secret: string, brokerId: number, challenge: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', secret).update(`${label}\0${brokerId}\0`).update(challenge).digest());
}

/** The broker id a hello proves, or a NOT_AUTHORIZED error. The challenge must be the one this side issued. */
export function verifyHello(secret: string, challenge: Uint8Array | null, body: unknown): number {
  const r = new BodyReader(body, 'peerHello');
  const id = r.int('id', { min: 1, max: brokerLimits.brokerIdMax });
  const proof = r.bytes('proof', { bytesMax: 64 });
  if (challenge === null) throw new SkeinError('NOT_AUTHORIZED', { message: 'peerHello before peerChallenge' });
  const expected = peerProof(secret, id, challenge);
  if (proof.byteLength !== expected.byteLength || !timingSafeEqual(proof, expected)) {
    throw new SkeinError('NOT_AUTHORIZED', { message: `the proof for broker ${id} does not match the cluster's peer secret` });
  }
  return id;
}

export function readChallenge(body: unknown): Uint8Array {
  const challenge = new BodyReader(body, 'peerChallenge response').bytes('challenge', { bytesMax: 64 });
  if (challenge.byteLength !== challengeBytes) throw new SkeinError('PROTOCOL_VIOLATION', { message: 'a peer challenge is 32 bytes' });
  return challenge;
}
