import { createHmac, timingSafeEqual } from 'node:crypto';
import { SkeinError } from '../../transport/errors.js';
import { brokerLimits } from '../../transport/limits.js';

/**
 * The proof that a producer id was issued by this cluster to the client that
 * presents it. Brokers mint it when they issue an id and check it on every
 * idempotent batch; it is a MAC under the cluster key (in the metadata
 * group's state, so every broker has it and no client ever sees it) over
 * the id and the epoch. It never appears in the log or in any answer but
 * the issuing one, so reading a partition teaches another client a
 * producer's id, epoch and sequence, never its proof. It is a bearer
 * secret rather than a tie to one connection because a producer writes to
 * every partition's leader, each over its own connection, and reconnects.
 *
 * Layout: version (1 byte) | MAC (16 bytes).
 */

const proofVersion = 1;
const macBytes = 16;
export const producerProofBytes = 1 + macBytes;
const domain = Buffer.from('skein producer id v1');

export function mintProducerProof(key: Uint8Array, producer: { producerId: number; producerEpoch: number }): Uint8Array {
  const proof = Buffer.alloc(producerProofBytes);
  proof.writeUInt8(proofVersion, 0);
  mac(key, producer.producerId, producer.producerEpoch).copy(proof, 1);
  return proof;
}

function mac(key: Uint8Array, producerId: number, producerEpoch: number): Buffer {
  const fields = Buffer.alloc(10);
  fields.writeBigUInt64BE(BigInt(producerId), 0);
  fields.writeInt16BE(producerEpoch, 8);
  return createHmac('sha256', key).update(domain).update(fields).digest().subarray(0, macBytes);
}

/**
 * Checks proofs, remembering the ones that passed (a producer sends the same
 * proof with every batch; the HMAC is paid once per producer, not per batch).
 * A remembered proof is compared in constant time too: how long a wrong one
 * takes to be refused says nothing about the right one.
 */
export class ProducerProofs {
  /** In order of last check: the least recent is dropped first. */
  private readonly verified = new Map<number, { producerEpoch: number; proof: Uint8Array }>();

  constructor(
    /** The cluster key as this broker's metadata has it now (null until it has applied it). */
    private readonly key: () => Uint8Array | null,
    private readonly verifiedMax: number = brokerLimits.producerProofsVerifiedMax,
  ) {}

  /** Returns if `proof` proves `producerId` at `producerEpoch`; throws INVALID_PRODUCER_ID otherwise. */
  verify(proof: Uint8Array | undefined, producerId: number, producerEpoch: number): void {
    if (proof === undefined) throw invalid(producerId, 'the produce request carries no producerProof (idempotent batches need the proof issued with their producer id by initProducer)');
    if (proof.byteLength !== producerProofBytes || proof[0] !== proofVersion) throw invalid(producerId, 'its producerProof is not one this cluster issues');
    const known = this.verified.get(producerId);
    if (known !== undefined && known.producerEpoch === producerEpoch && timingSafeEqual(known.proof, proof)) {
      this.verified.delete(producerId);
      this.verified.set(producerId, known);
      return;
    }
    const key = this.key();
    if (key === null) {
      throw new SkeinError('LEADER_NOT_AVAILABLE', { message: 'this broker has not yet applied the cluster key from the metadata; it is catching up' });
    }
    if (!timingSafeEqual(mac(key, producerId, producerEpoch), proof.subarray(1))) throw invalid(producerId, 'its producerProof does not prove it');
    this.verified.delete(producerId);
    if (this.verified.size >= this.verifiedMax) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(producerId, { producerEpoch, proof: Uint8Array.from(proof) });
  }
}

function invalid(producerId: number, why: string): SkeinError {
  return new SkeinError('INVALID_PRODUCER_ID', { message: `producer id ${producerId} was not issued to this client: ${why}` });
}
