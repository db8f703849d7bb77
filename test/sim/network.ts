import type { NodeId } from '../../broker/raft/core/types.js';
import type { Prng } from '../../transport/core/prng.js';
import type { Scheduler } from './scheduler.js';

/**
 * The simulated network between replicas, in the spirit of TigerBeetle's
 * packet simulator: every path (a directed pair) delays each message by a
 * minimum plus an exponential amount (so messages reorder), may lose or
 * duplicate it, holds at most a bounded number in flight, and can be clogged
 * (messages wait until the clog clears) or cut by a partition. Partitions
 * come in several shapes, including one-way ones, and come and go at random.
 */

export type PartitionMode = 'isolateSingle' | 'uniformSplit' | 'oneWay' | 'randomLinks';

export interface NetworkOptions {
  readonly delayMinMs: number;
  readonly delayMeanMs: number;
  readonly lossProbability: number;
  readonly duplicateProbability: number;
  readonly pathCapacity: number;
  readonly partitionModes: readonly PartitionMode[];
  /** Chance per second that a partition starts (when none is in force) and that it heals. */
  readonly partitionPerSecond: number;
  readonly unpartitionPerSecond: number;
  /** Chance per second that a given path clogs, and the mean clog length. */
  readonly clogPerSecond: number;
  readonly clogMeanMs: number;
}

export interface NetworkCounters {
  sent: number;
  delivered: number;
  lost: number;
  duplicated: number;
  cutByPartition: number;
  droppedFull: number;
  partitions: number;
  clogs: number;
}

const faultStepMs = 100;

export class SimNetwork {
  readonly counters: NetworkCounters = { sent: 0, delivered: 0, lost: 0, duplicated: 0, cutByPartition: 0, droppedFull: 0, partitions: 0, clogs: 0 };
  private readonly cut = new Set<string>();
  private readonly clogUntil = new Map<string, number>();
  private readonly inFlight = new Map<string, number>();
  private partitioned = false;
  private faultsOn = false;
  private options: NetworkOptions;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly prng: Prng,
    options: NetworkOptions,
    private readonly ids: readonly NodeId[],
    private readonly deliver: (from: NodeId, to: NodeId, wire: unknown) => void,
    private readonly trace: (line: string) => void,
  ) {
    this.options = options;
  }

  send(from: NodeId, to: NodeId, wire: unknown): void {
    this.counters.sent++;
    const path = `${from}>${to}`;
    if (this.cut.has(path)) {
      this.counters.cutByPartition++;
      return;
    }
    if (this.prng.chance(this.options.lossProbability)) {
      this.counters.lost++;
      return;
    }
    this.schedule(from, to, path, wire);
    if (this.prng.chance(this.options.duplicateProbability)) {
      this.counters.duplicated++;
      this.schedule(from, to, path, wire);
    }
  }

  private schedule(from: NodeId, to: NodeId, path: string, wire: unknown): void {
    const inFlight = this.inFlight.get(path) ?? 0;
    if (inFlight >= this.options.pathCapacity) {
      this.counters.droppedFull++;
      return;
    }
    this.inFlight.set(path, inFlight + 1);
    const u = this.prng.next();
    const delay = this.options.delayMinMs + -this.options.delayMeanMs * Math.log(1 - u);
    const at = Math.max(this.scheduler.now + delay, this.clogUntil.get(path) ?? 0);
    this.scheduler.at(at, () => {
      this.inFlight.set(path, (this.inFlight.get(path) ?? 1) - 1);
      // A partition that formed while the message flew cuts it too.
      if (this.cut.has(path)) {
        this.counters.cutByPartition++;
        return;
      }
      this.counters.delivered++;
      this.deliver(from, to, wire);
    });
  }

  /** Starts the random partitions and clogs, which run until heal(). */
  startFaults(): void {
    this.faultsOn = true;
    this.scheduler.after(faultStepMs, () => this.faultStep());
  }

  /** Ends every partition and clog and stops new ones; loss, duplication and delay drop to `residual`. */
  heal(residual: { lossProbability: number; duplicateProbability: number; delayMeanMs: number }): void {
    this.faultsOn = false;
    this.cut.clear();
    this.clogUntil.clear();
    this.partitioned = false;
    this.options = { ...this.options, ...residual };
    this.trace('network healed');
  }

  private faultStep(): void {
    if (!this.faultsOn) return;
    const perStep = faultStepMs / 1000;
    if (!this.partitioned && this.options.partitionModes.length > 0 && this.prng.chance(this.options.partitionPerSecond * perStep)) {
      this.partition();
    } else if (this.partitioned && this.prng.chance(this.options.unpartitionPerSecond * perStep)) {
      this.cut.clear();
      this.partitioned = false;
      this.trace('partition healed');
    }
    for (const from of this.ids) {
      for (const to of this.ids) {
        if (from === to || !this.prng.chance(this.options.clogPerSecond * perStep)) continue;
        const length = -this.options.clogMeanMs * Math.log(1 - this.prng.next());
        this.clogUntil.set(`${from}>${to}`, this.scheduler.now + length);
        this.counters.clogs++;
      }
    }
    this.scheduler.after(faultStepMs, () => this.faultStep());
  }

  private partition(): void {
    const mode = this.options.partitionModes[this.prng.int(0, this.options.partitionModes.length - 1)]!;
    const ids = this.ids;
    const block = (a: NodeId, b: NodeId): void => {
      this.cut.add(`${a}>${b}`);
    };
    switch (mode) {
      case 'isolateSingle': {
        const lone = ids[this.prng.int(0, ids.length - 1)]!;
        for (const other of ids) if (other !== lone) (block(lone, other), block(other, lone));
        this.trace(`partition: ${lone} isolated`);
        break;
      }
      case 'uniformSplit':
      case 'oneWay': {
        const side = this.randomSide();
        for (const a of side) for (const b of ids) if (!side.includes(b)) (block(a, b), mode === 'uniformSplit' && block(b, a));
        this.trace(`partition (${mode}): [${side.join(',')}] ${mode === 'oneWay' ? '-/->' : '<-/->'} rest`);
        break;
      }
      case 'randomLinks': {
        for (const a of ids) for (const b of ids) if (a !== b && this.prng.chance(0.3)) block(a, b);
        this.trace(`partition (random links): ${[...this.cut].join(' ')}`);
        break;
      }
    }
    this.partitioned = true;
    this.counters.partitions++;
  }

  /** A non-empty proper subset of the nodes. */
  private randomSide(): NodeId[] {
    if (this.ids.length < 2) return [];
    for (;;) {
      const side = this.ids.filter(() => this.prng.chance(0.5));
      if (side.length > 0 && side.length < this.ids.length) return side;
    }
  }
}
