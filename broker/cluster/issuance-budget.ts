import { systemClock } from '../../transport/clock.js';
import { SkeinError } from '../../transport/errors.js';
import { brokerLimits } from '../../transport/limits.js';

/** Who asks for a producer id: its connection (any object that lives as long as it) and its address. */
export interface IssuanceClient {
  readonly connection: object;
  readonly address: string;
}

export interface IssuanceBudgetOptions {
  perConnectionBurst: number;
  perAddressBurst: number;
  /** Each budget regains one id this often. */
  refillMs: number;
  addressesTrackedMax: number;
  now: () => number;
}

/** A token bucket: `burst` ids at once, one more every `refillMs`. */
class Bucket {
  private tokens: number;
  private updatedMs: number;

  constructor(
    private readonly burst: number,
    private readonly refillMs: number,
    nowMs: number,
  ) {
    this.tokens = burst;
    this.updatedMs = nowMs;
  }

  /** Ms until one id is available (0: now). */
  waitMs(nowMs: number): number {
    this.refill(nowMs);
    return this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) * this.refillMs);
  }

  take(): void {
    this.tokens -= 1;
  }

  give(): void {
    this.tokens = Math.min(this.burst, this.tokens + 1);
  }

  isFull(nowMs: number): boolean {
    this.refill(nowMs);
    return this.tokens >= this.burst;
  }

  private refill(nowMs: number): void {
    this.tokens = Math.min(this.burst, this.tokens + Math.max(0, nowMs - this.updatedMs) / this.refillMs);
    this.updatedMs = nowMs;
  }
}

/**
 * How many producer ids each connection and each address may be issued:
 * a burst, then one every refillMs (brokerLimits.producerIds*). Producer
 * state is what a partition holds per id, so a client that could take ids
 * without end could fill partitions' tables with producers of its own.
 * Beyond either budget: THROTTLED (retriable), saying how long to wait.
 */
export class IssuanceBudget {
  private readonly connections = new WeakMap<object, Bucket>();
  /** In order of last use: the first ones are forgotten first when too many are tracked. */
  private readonly addresses = new Map<string, Bucket>();
  throttled = 0;

  constructor(
    private readonly options: IssuanceBudgetOptions = {
      perConnectionBurst: brokerLimits.producerIdsPerConnectionBurst,
      perAddressBurst: brokerLimits.producerIdsPerAddressBurst,
      refillMs: brokerLimits.producerIdRefillMs,
      addressesTrackedMax: brokerLimits.producerIdAddressesTrackedMax,
      now: () => systemClock.nowMs(),
    },
  ) {}

  /** Takes one id from both budgets, or throws THROTTLED and takes nothing. */
  take(client: IssuanceClient): void {
    const nowMs = this.options.now();
    const connection = this.bucket(client, nowMs);
    const address = this.addressBucket(client.address, nowMs);
    const connectionWaitMs = connection.waitMs(nowMs);
    const waitMs = Math.max(connectionWaitMs, address.waitMs(nowMs));
    if (waitMs > 0) {
      this.throttled++;
      const which = connectionWaitMs > 0 ? `this connection (${this.options.perConnectionBurst} at once)` : `address ${client.address} (${this.options.perAddressBurst} at once)`;
      throw new SkeinError('THROTTLED', {
        message: `${which} was issued as many producer ids as it may be for now, one more every ${this.options.refillMs} ms; retry in ${waitMs} ms`,
        details: { retryAfterMs: waitMs },
      });
    }
    connection.take();
    address.take();
  }

  /** Gives back an id taken for an issue that failed (the client did not get it). */
  giveBack(client: IssuanceClient): void {
    this.connections.get(client.connection)?.give();
    this.addresses.get(client.address)?.give();
  }

  get addressesTracked(): number {
    return this.addresses.size;
  }

  private bucket(client: IssuanceClient, nowMs: number): Bucket {
    let bucket = this.connections.get(client.connection);
    if (bucket === undefined) this.connections.set(client.connection, (bucket = new Bucket(this.options.perConnectionBurst, this.options.refillMs, nowMs)));
    return bucket;
  }

  private addressBucket(address: string, nowMs: number): Bucket {
    let bucket = this.addresses.get(address);
    if (bucket !== undefined) {
      this.addresses.delete(address);
    } else {
      bucket = new Bucket(this.options.perAddressBurst, this.options.refillMs, nowMs);
      if (this.addresses.size >= this.options.addressesTrackedMax) this.forget(nowMs);
    }
    this.addresses.set(address, bucket);
    return bucket;
  }

  /** Makes room: addresses whose budget is full again are the same as untracked; else the least recently seen goes. */
  private forget(nowMs: number): void {
    for (const [address, bucket] of this.addresses) if (bucket.isFull(nowMs)) this.addresses.delete(address);
    if (this.addresses.size >= this.options.addressesTrackedMax) this.addresses.delete(this.addresses.keys().next().value!);
  }
}
