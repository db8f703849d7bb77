import { describe, expect, it } from 'vitest';
import { IssuanceBudget } from '../../../broker/cluster/issuance-budget.js';
import { mintProducerProof, producerProofBytes, ProducerProofs } from '../../../broker/cluster/producer-proof.js';
import { ProducerIdIssuer } from '../../../broker/cluster/producer-ids.js';
import { isSkeinError } from '../../../transport/errors.js';
import { brokerLimits } from '../../../transport/limits.js';

const key = new Uint8Array(32).fill(7);

function codeOf(run: () => unknown): string {
  try {
    run();
    return 'OK';
  } catch (error) {
    return isSkeinError(error) ? error.code : String(error);
  }
}

describe('producer proofs', () => {
  it('prove exactly the id and epoch they were minted for, under this cluster\'s key', () => {
    const proofs = new ProducerProofs(() => key);
    const proof = mintProducerProof(key, { producerId: 42, producerEpoch: 0 });
    expect(proof.byteLength).toBe(producerProofBytes);
    expect(codeOf(() => proofs.verify(proof, 42, 0))).toBe('OK');
    expect(codeOf(() => proofs.verify(proof, 43, 0))).toBe('INVALID_PRODUCER_ID');
    expect(codeOf(() => proofs.verify(proof, 42, 1))).toBe('INVALID_PRODUCER_ID');
    expect(codeOf(() => proofs.verify(undefined, 42, 0))).toBe('INVALID_PRODUCER_ID');
    expect(codeOf(() => proofs.verify(proof.subarray(1), 42, 0))).toBe('INVALID_PRODUCER_ID');
    // Another cluster's proof, and a proof with one bit changed, prove nothing.
    expect(codeOf(() => proofs.verify(mintProducerProof(new Uint8Array(32).fill(8), { producerId: 42, producerEpoch: 0 }), 42, 0))).toBe('INVALID_PRODUCER_ID');
    const flipped = Uint8Array.from(proof);
    flipped[9]! ^= 1;
    expect(codeOf(() => proofs.verify(flipped, 42, 0))).toBe('INVALID_PRODUCER_ID');
    // Refused as often as it is tried, although the right one is remembered.
    expect(codeOf(() => proofs.verify(flipped, 42, 0))).toBe('INVALID_PRODUCER_ID');
    expect(codeOf(() => proofs.verify(proof, 42, 0))).toBe('OK');
  });

  it('cannot be checked (retriably) by a broker that has not applied the key yet', () => {
    const proofs = new ProducerProofs(() => null);
    expect(() => proofs.verify(mintProducerProof(key, { producerId: 1, producerEpoch: 0 }), 1, 0)).toThrow(expect.objectContaining({ code: 'LEADER_NOT_AVAILABLE', retriable: true }));
  });

  it('remembers at most verifiedMax proofs that passed', () => {
    let macs = 0;
    const proofs = new ProducerProofs(() => {
      macs++;
      return key;
    }, 2);
    const proofOf = (producerId: number) => mintProducerProof(key, { producerId, producerEpoch: 0 });
    for (const id of [1, 2, 1, 2]) proofs.verify(proofOf(id), id, 0);
    expect(macs).toBe(2);
    proofs.verify(proofOf(3), 3, 0);
    // Producer 1 was the oldest remembered: checking it again costs a MAC; 3 is remembered.
    proofs.verify(proofOf(1), 1, 0);
    proofs.verify(proofOf(3), 3, 0);
    expect(macs).toBe(4);
  });
});

describe('producer-id budgets', () => {
  const options = { perConnectionBurst: 3, perAddressBurst: 5, refillMs: 1000, addressesTrackedMax: 2 };

  it('issue a burst per connection, then one per refill; beyond, THROTTLED with the wait', () => {
    let nowMs = 0;
    const budget = new IssuanceBudget({ ...options, now: () => nowMs });
    const client = { connection: {}, address: '10.0.0.1' };
    for (let i = 0; i < 3; i++) budget.take(client);
    let error: unknown;
    try {
      budget.take(client);
    } catch (e) {
      error = e;
    }
    expect(isSkeinError(error, 'THROTTLED') && [error.retriable, error.details]).toEqual([true, { retryAfterMs: 1000 }]);
    nowMs = 999;
    expect(codeOf(() => budget.take(client))).toBe('THROTTLED');
    nowMs = 1000;
    expect(codeOf(() => budget.take(client))).toBe('OK');
    // An issue that failed gives its id back.
    budget.giveBack(client);
    expect(codeOf(() => budget.take(client))).toBe('OK');
    expect(budget.throttled).toBe(2);
  });

  it('issue a burst per address whatever the connections, and forget full budgets first when too many addresses are tracked', () => {
    let nowMs = 0;
    const budget = new IssuanceBudget({ ...options, now: () => nowMs });
    for (let i = 0; i < 5; i++) budget.take({ connection: {}, address: '10.0.0.1' });
    expect(codeOf(() => budget.take({ connection: {}, address: '10.0.0.1' }))).toBe('THROTTLED');
    budget.take({ connection: {}, address: '10.0.0.2' });
    expect(budget.addressesTracked).toBe(2);
    nowMs = 1000;
    // A third address: .2's budget is full again (as good as untracked), so it goes, and .1 stays spent.
    budget.take({ connection: {}, address: '10.0.0.3' });
    expect(budget.addressesTracked).toBe(2);
    budget.take({ connection: {}, address: '10.0.0.1' });
    expect(codeOf(() => budget.take({ connection: {}, address: '10.0.0.1' }))).toBe('THROTTLED');
  });

  it('one address cannot fill a partition\'s producer table within the expiry (the limits say so)', () => {
    const perExpiry = brokerLimits.producerIdsPerAddressBurst + brokerLimits.producerStateExpiryMs / brokerLimits.producerIdRefillMs;
    expect(perExpiry).toBeLessThan(brokerLimits.producerStatesPerPartitionMax);
  });
});

describe('ProducerIdIssuer', () => {
  function issuer(options: { clusterKey?: () => Uint8Array | null; failAllocations?: number } = {}) {
    const allocations: { first: number; count: number }[] = [];
    let failures = options.failAllocations ?? 0;
    const listeners = new Set<() => void>();
    const issuing = new ProducerIdIssuer({
      allocate: async () => {
        if (failures-- > 0) throw Object.assign(new Error('no controller'), {});
        const block = { first: 1 + allocations.length * 10, count: 10 };
        allocations.push(block);
        return block;
      },
      clusterKey: options.clusterKey ?? (() => key),
      onMetadataChange: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      budget: new IssuanceBudget({ perConnectionBurst: 1000, perAddressBurst: 1000, refillMs: 1000, addressesTrackedMax: 10, now: () => 0 }),
    });
    return { issuing, allocations, changed: () => listeners.forEach((l) => l()) };
  }
  const client = { connection: {}, address: '10.0.0.1' };
  const signal = new AbortController().signal;

  it('issues unique ids from blocks, asking for the next block before this one runs out, each with a proof of it', async () => {
    const { issuing, allocations } = issuer();
    const ids: number[] = [];
    for (let i = 0; i < 25; i++) {
      const answer = await issuing.issue(client, signal);
      issuing.proofs.verify(answer.proof, answer.producerId, answer.producerEpoch);
      ids.push(answer.producerId);
    }
    expect(new Set(ids).size).toBe(25);
    expect(ids).toEqual(Array.from({ length: 25 }, (_, i) => 1 + i));
    // Three blocks: the third asked for while the second still had ids left.
    expect(allocations).toHaveLength(3);
  });

  it('answers the controller\'s failure (the client retries), gives the budget back, and waits for the key to be applied', async () => {
    let current: Uint8Array | null = null;
    const { issuing, changed } = issuer({ failAllocations: 1, clusterKey: () => current });
    await expect(issuing.issue(client, signal)).rejects.toThrow('no controller');
    const answer = issuing.issue(client, signal);
    await new Promise((r) => setTimeout(r, 10));
    current = key;
    changed();
    expect((await answer).producerId).toBe(1);
    expect(issuing.issued).toBe(1);
  });
});
