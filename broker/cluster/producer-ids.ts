import { abortable, whenAborted, withTimeout } from '../../transport/abort.js';
import { SkeinError } from '../../transport/errors.js';
import { brokerLimits } from '../../transport/limits.js';
import type { InitProducerResponse } from '../../transport/protocol/messages.js';
import { IssuanceBudget, type IssuanceClient } from './issuance-budget.js';
import type { ProducerIdBlock } from './metadata-state.js';
import { mintProducerProof, ProducerProofs } from './producer-proof.js';

/**
 * Producer ids, issued by the cluster to the client that asks (initProducer,
 * served by any broker). Ids are unique in the cluster for its lifetime: the
 * controller hands each broker blocks of them through the metadata log (a
 * committed `producerIds` command; the next block starts where the last
 * ended, whoever asked), so a broker issues from its block without a round
 * trip, and a restart or a controller failover never issues an id twice (a
 * block a broker had not used up when it stopped is simply never used). Each
 * id comes with its proof (producer-proof.ts), which the client sends with
 * every idempotent batch: another client that reads the id from the log
 * cannot write under it.
 */
export interface ProducerIdIssuerOptions {
  /** Asks the controller (here or forwarded) for this broker's next block. */
  allocate: (signal: AbortSignal) => Promise<unknown>;
  /** The cluster key as this broker's metadata has it now. */
  clusterKey: () => Uint8Array | null;
  /** Runs `listener` after every change to this broker's metadata; returns the unsubscribe. */
  onMetadataChange: (listener: () => void) => () => void;
  budget?: IssuanceBudget;
}

export class ProducerIdIssuer {
  readonly proofs: ProducerProofs;
  private readonly budget: IssuanceBudget;
  /** Blocks to issue from, in order; the first is being used. */
  private readonly blocks: { next: number; end: number; count: number }[] = [];
  private allocating: Promise<void> | null = null;
  issued = 0;

  constructor(private readonly options: ProducerIdIssuerOptions) {
    this.proofs = new ProducerProofs(options.clusterKey);
    this.budget = options.budget ?? new IssuanceBudget();
  }

  /** A fresh producer id and its proof for `client`, within its budget (THROTTLED beyond). */
  async issue(client: IssuanceClient, signal: AbortSignal): Promise<InitProducerResponse> {
    this.budget.take(client);
    try {
      const producerId = await this.nextId(signal);
      const key = await this.key(signal);
      this.issued++;
      return { producerId, producerEpoch: 0, proof: mintProducerProof(key, { producerId, producerEpoch: 0 }) };
    } catch (error) {
      // Nothing was issued (no controller, say): the client's retry costs it nothing.
      this.budget.giveBack(client);
      throw error;
    }
  }

  private async nextId(signal: AbortSignal): Promise<number> {
    for (;;) {
      while (this.blocks[0] !== undefined && this.blocks[0].next >= this.blocks[0].end) this.blocks.shift();
      const block = this.blocks[0];
      if (block !== undefined) {
        const id = block.next++;
        // The next block is asked for while a quarter of this one remains, so issuing rarely waits for the controller.
        if (this.blocks.length === 1 && (block.end - block.next) * 4 < block.count) this.allocate().catch(() => undefined);
        return id;
      }
      await abortable(this.allocate(), signal);
    }
  }

  /** One request for a block at a time, shared by everyone waiting; bounded by controllerCommandTimeoutMs. */
  private allocate(): Promise<void> {
    this.allocating ??= (async () => {
      const bounded = withTimeout(undefined, brokerLimits.controllerCommandTimeoutMs, () => new SkeinError('TIMEOUT', { message: 'the controller did not hand out producer ids in time' }));
      try {
        const block = readBlock(await this.options.allocate(bounded.signal));
        this.blocks.push({ next: block.first, end: block.first + block.count, count: block.count });
      } finally {
        bounded.dispose();
        this.allocating = null;
      }
    })();
    return this.allocating;
  }

  /** The cluster key; it was committed before the block we issue from, so this broker's metadata has it or soon will. */
  private async key(signal: AbortSignal): Promise<Uint8Array> {
    let key = this.options.clusterKey();
    while (key === null) {
      if (signal.aborted) throw signal.reason;
      await new Promise<void>((resolve, reject) => {
        // whenAborted: one listener per signal however many initProducer calls wait on it.
        const stopListening = whenAborted(signal, () => {
          stopWaiting();
          reject(signal.reason);
        });
        const stopWaiting = this.options.onMetadataChange(() => {
          stopWaiting();
          stopListening();
          resolve();
        });
      });
      key = this.options.clusterKey();
    }
    return key;
  }
}

/** The controller's answer is a peer's data: checked before ids are issued from it. */
function readBlock(value: unknown): ProducerIdBlock {
  const { first, count } = (value ?? {}) as Partial<ProducerIdBlock>;
  if (typeof first !== 'number' || typeof count !== 'number' || !Number.isSafeInteger(first) || !Number.isSafeInteger(count) || first < 0 || count < 1 || first + count > Number.MAX_SAFE_INTEGER) {
    throw new SkeinError('INTERNAL', { message: 'the controller answered a request for producer ids with no block' });
  }
  return { first, count };
}
