import { SkeinError } from '../../../transport/errors.js';
import { brokerLimits, clusterLimits } from '../../../transport/limits.js';
import { evacuating, placeable, type BrokerView } from './brokers.js';

/**
 * Where replicas should live: plans for a rebalance, a decommission and a
 * replication-factor change, as pure functions of the brokers (with their
 * states) and the current placement. Deterministic, whatever the order of
 * the input lists, so the controller, a dry run and a test agree.
 *
 * A rebalance
 *  1. moves every replica off brokers being decommissioned (or gone), each to
 *     the least loaded broker that can take it: these moves are forced;
 *  2. moves replicas from the most to the least loaded broker until the
 *     counts differ by at most one. While two counts differ by two or more,
 *     the fuller broker holds a partition the emptier does not (it holds more
 *     partitions), so each move makes progress and the count of moves is the
 *     least possible: max(forced + replicas above the ceiling of the mean,
 *     replicas missing below its floor). A move prefers a replica that is not
 *     its partition's preferred leader, then the topic most over-represented
 *     on the fuller broker, so topics spread too at no extra cost;
 *  3. chooses preferred leaders (the first replica) among each partition's
 *     replicas so leaderships spread as evenly as the placement allows:
 *     leadership passes along a chain of partitions from a broker leading L to
 *     one leading L-2 or fewer, until no such chain exists. That state is the
 *     most even possible (it has no cost-reducing path: Harvey, Ladner,
 *     Lovász and Tamir, "Semi-matchings for bipartite graphs and load
 *     balancing", 2003); changing a preferred leader moves no data.
 * Only brokers that are active and alive take replicas and leaderships; a
 * replica on an active broker that is merely unreachable stays where it is
 * (it may come back), and a moving partition is counted where it is going
 * and never changed.
 */

export interface PartitionPlacement {
  readonly topic: string;
  readonly partition: number;
  /** Replicas, preferred leader first (for a moving partition: where it is going). */
  readonly replicas: readonly number[];
  /** A move is in progress: counted, never changed. */
  readonly locked?: boolean;
}

export interface BalanceInput {
  readonly brokers: readonly BrokerView[];
  readonly partitions: readonly PartitionPlacement[];
  /** At most this many partitions change in one plan (the rest wait for the next one). */
  readonly movesMax?: number;
}

export interface PlannedMove {
  readonly topic: string;
  readonly partition: number;
  readonly replicas: readonly number[];
  readonly target: readonly number[];
}

export interface BalancePlan {
  /** Partitions whose replicas or preferred leader change, by topic and partition. */
  readonly moves: readonly PlannedMove[];
  /** Replicas that move to another broker (data copied). */
  readonly replicaMoves: number;
  /** Partitions whose preferred leader changes. */
  readonly leaderChanges: number;
}

/** Evacuate, spread replicas, spread preferred leaders. */
export function planRebalance(input: BalanceInput): BalancePlan {
  const placement = new Placement(input);
  placement.evacuate();
  placement.spreadReplicas();
  placement.spreadLeaders();
  return placement.plan();
}

/** Only what must move: every replica off brokers being decommissioned or gone, each to the least loaded broker that can take it. */
export function planDecommission(input: BalanceInput): BalancePlan {
  const placement = new Placement(input);
  placement.evacuate();
  return placement.plan();
}

/** Every partition of `topic` to `replicationFactor` replicas: new ones on the least loaded brokers, the ones dropped from the most loaded. */
export function planReplicationFactor(input: BalanceInput, topic: string, replicationFactor: number): BalancePlan {
  if (!Number.isSafeInteger(replicationFactor) || replicationFactor < 1 || replicationFactor > brokerLimits.replicationFactorMax) {
    throw new SkeinError('INVALID_REPLICATION_FACTOR', { message: `a replication factor is an integer from 1 to ${brokerLimits.replicationFactorMax}, got ${String(replicationFactor)}` });
  }
  const placement = new Placement(input);
  placement.resize(topic, replicationFactor);
  return placement.plan();
}

interface Slot {
  /** Position by topic and partition: ties go to the first. */
  readonly order: number;
  readonly topic: string;
  readonly partition: number;
  readonly before: readonly number[];
  replicas: number[];
  readonly locked: boolean;
}

class Placement {
  private readonly brokers = new Map<number, BrokerView>();
  /** Brokers that take replicas, by id. */
  private readonly open: number[];
  private readonly slots: Slot[];
  private readonly load = new Map<number, number>();
  private readonly leads = new Map<number, number>();
  private readonly topicLoad = new Map<number, Map<string, number>>();
  /** The partitions each open broker holds a replica of, and (while spreading leaders) leads. */
  private readonly hosting = new Map<number, Set<Slot>>();
  private readonly ledBy = new Map<number, Set<Slot>>();
  private readonly changed = new Set<Slot>();
  private readonly movesMax: number;

  constructor(input: BalanceInput) {
    for (const broker of input.brokers) this.brokers.set(broker.id, broker);
    this.open = [...this.brokers.values()].filter(placeable).map((b) => b.id).sort((a, b) => a - b);
    this.movesMax = input.movesMax ?? clusterLimits.movesPendingMax;
    this.slots = input.partitions
      .map((p) => {
        if (p.replicas.length === 0 || new Set(p.replicas).size !== p.replicas.length) throw new Error(`balance: ${p.topic}/${p.partition} has replicas [${p.replicas.join(',')}]`);
        return { order: 0, topic: p.topic, partition: p.partition, before: [...p.replicas], replicas: [...p.replicas], locked: p.locked === true };
      })
      .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))
      .map((slot, order) => ({ ...slot, order }));
    for (const id of this.open) {
      this.load.set(id, 0);
      this.leads.set(id, 0);
      this.topicLoad.set(id, new Map());
      this.hosting.set(id, new Set());
      this.ledBy.set(id, new Set());
    }
    for (const slot of this.slots) {
      slot.replicas.forEach((id) => this.count(slot, id, +1));
      this.adjustLead(slot, slot.replicas[0]!, +1);
    }
  }

  // ------------------------------------------------------------------ the steps

  evacuate(): void {
    for (const slot of this.slots) {
      if (slot.locked) continue;
      for (let i = 0; i < slot.replicas.length; i++) {
        const from = slot.replicas[i]!;
        if (!evacuating(this.brokers.get(from))) continue;
        const to = this.leastLoaded(slot, i === 0);
        if (to === undefined) throw this.tooFew(slot);
        if (!this.mayChange(slot)) return;
        this.place(slot, i, to);
      }
    }
  }

  spreadReplicas(): void {
    for (;;) {
      const move = this.bestReplicaMove();
      if (move === null) return;
      this.place(move.slot, move.slot.replicas.indexOf(move.from), move.to);
    }
  }

  spreadLeaders(): void {
    // A preferred leader that cannot lead (unreachable, on its way out) goes to a replica that can.
    for (const slot of this.slots) {
      if (slot.locked || this.leads.has(slot.replicas[0]!)) continue;
      const able = slot.replicas.filter((id) => this.leads.has(id)).sort((a, b) => this.leads.get(a)! - this.leads.get(b)! || a - b);
      if (able.length > 0 && this.mayChange(slot)) this.lead(slot, able[0]!);
    }
    while (this.shiftLeadership()) {
      // each pass moves one leadership chain; the sum of squared counts falls every time
    }
  }

  resize(topic: string, replicationFactor: number): void {
    const slots = this.slots.filter((s) => s.topic === topic);
    if (slots.length === 0) throw new SkeinError('UNKNOWN_TOPIC', { message: `topic ${topic} does not exist` });
    const moving = slots.filter((s) => s.locked);
    if (moving.length > 0) throw new SkeinError('REASSIGNMENT_IN_PROGRESS', { message: `topic ${topic} has partitions moving (${moving.map((s) => s.partition).join(', ')}); wait for them or cancel them` });
    for (const slot of slots) {
      while (slot.replicas.length < replicationFactor) {
        const to = this.leastLoaded(slot, false);
        if (to === undefined) throw this.tooFew(slot, replicationFactor);
        if (!this.mayChange(slot)) return;
        slot.replicas.push(to);
        this.count(slot, to, +1);
        this.changed.add(slot);
      }
      while (slot.replicas.length > replicationFactor) {
        if (!this.mayChange(slot)) return;
        this.drop(slot);
      }
    }
  }

  plan(): BalancePlan {
    const moves: PlannedMove[] = [];
    let replicaMoves = 0;
    let leaderChanges = 0;
    for (const slot of this.slots) {
      const same = slot.replicas.length === slot.before.length && slot.replicas.every((id, i) => id === slot.before[i]);
      if (same) continue;
      moves.push({ topic: slot.topic, partition: slot.partition, replicas: slot.before, target: [...slot.replicas] });
      replicaMoves += slot.replicas.filter((id) => !slot.before.includes(id)).length;
      if (slot.replicas[0] !== slot.before[0]) leaderChanges++;
    }
    return { moves, replicaMoves, leaderChanges };
  }

  // ------------------------------------------------------------------ replicas

  /** The next replica to move: from the fullest broker to the emptiest that can take one of its partitions, or null when within one. */
  private bestReplicaMove(): { slot: Slot; from: number; to: number } | null {
    const byLoad = [...this.open].sort((a, b) => this.load.get(a)! - this.load.get(b)! || a - b);
    for (let hi = byLoad.length - 1; hi >= 0; hi--) {
      const from = byLoad[hi]!;
      for (const to of byLoad) {
        if (this.load.get(from)! - this.load.get(to)! < 2) break;
        const slot = this.pickSlot(from, to);
        if (slot !== null) return { slot, from, to };
      }
    }
    return null;
  }

  private pickSlot(from: number, to: number): Slot | null {
    let best: Slot | null = null;
    let bestRank: number[] = [];
    for (const slot of this.hosting.get(from)!) {
      if (slot.locked || slot.replicas.includes(to) || !this.mayChange(slot)) continue;
      // Prefer a follower (the leadership stays put), then the topic most crowded on `from` relative to `to`.
      const skew = this.topicCount(from, slot.topic) - this.topicCount(to, slot.topic);
      const rank = [slot.replicas[0] === from ? 1 : 0, -skew, slot.order];
      if (best === null || before(rank, bestRank)) {
        best = slot;
        bestRank = rank;
      }
    }
    return best;
  }

  /** The open broker with the fewest replicas not already holding this partition (fewest leaderships first when it will lead). */
  private leastLoaded(slot: Slot, leading: boolean): number | undefined {
    let best: number | undefined;
    for (const id of this.open) {
      if (slot.replicas.includes(id)) continue;
      if (best === undefined) best = id;
      else {
        const diff = this.load.get(id)! - this.load.get(best)! || (leading ? this.leads.get(id)! - this.leads.get(best)! : 0) || this.topicCount(id, slot.topic) - this.topicCount(best, slot.topic);
        if (diff < 0) best = id;
      }
    }
    return best;
  }

  /** Drops the replica that helps most: one that cannot stay (leaving, unreachable), else the one on the fullest broker; the preferred leader last. */
  private drop(slot: Slot): void {
    // Smallest rank goes first: not open, then not the preferred leader, then the fullest broker, then the highest id.
    const rank = (i: number): number[] => {
      const id = slot.replicas[i]!;
      return [this.load.has(id) ? 1 : 0, i === 0 ? 1 : 0, -(this.load.get(id) ?? 0), -id];
    };
    let worst = 0;
    for (let i = 1; i < slot.replicas.length; i++) if (before(rank(i), rank(worst))) worst = i;
    const [id] = slot.replicas.splice(worst, 1);
    this.count(slot, id!, -1);
    if (worst === 0) this.passLead(slot, id!, slot.replicas[0]!);
    this.changed.add(slot);
  }

  private place(slot: Slot, index: number, to: number): void {
    const from = slot.replicas[index]!;
    this.count(slot, from, -1);
    this.count(slot, to, +1);
    slot.replicas[index] = to;
    if (index === 0) this.passLead(slot, from, to);
    this.changed.add(slot);
  }

  private count(slot: Slot, id: number, delta: number): void {
    const load = this.load.get(id);
    if (load === undefined) return;
    this.load.set(id, load + delta);
    const topics = this.topicLoad.get(id)!;
    topics.set(slot.topic, (topics.get(slot.topic) ?? 0) + delta);
    if (delta > 0) this.hosting.get(id)!.add(slot);
    else this.hosting.get(id)!.delete(slot);
  }

  private topicCount(id: number, topic: string): number {
    return this.topicLoad.get(id)?.get(topic) ?? 0;
  }

  // ------------------------------------------------------------------ leaders

  /**
   * Finds a broker leading L with a chain of partitions to one leading L-2
   * or fewer (each partition in the chain led by one broker and holding a
   * replica on the next), and passes leadership along it. False when none exists.
   */
  private shiftLeadership(): boolean {
    const byLeads = [...this.open].sort((a, b) => this.leads.get(b)! - this.leads.get(a)! || a - b);
    for (const start of byLeads) {
      const path = this.chainFrom(start);
      if (path === null) continue;
      for (const { slot, to } of path) this.lead(slot, to);
      return true;
    }
    return false;
  }

  /** Breadth-first over "a partition led by x has a replica on y": the shortest chain to the broker leading fewest. */
  private chainFrom(start: number): Array<{ slot: Slot; to: number }> | null {
    const parent = new Map<number, { from: number; slot: Slot }>();
    const seen = new Set([start]);
    let frontier = [start];
    let goal: number | null = null;
    const startLeads = this.leads.get(start)!;
    while (frontier.length > 0 && goal === null) {
      const next: number[] = [];
      for (const x of frontier) {
        for (const slot of [...this.ledBy.get(x)!].sort((a, b) => a.order - b.order)) {
          if (slot.locked || !this.mayChange(slot)) continue;
          for (const y of slot.replicas) {
            if (seen.has(y) || !this.leads.has(y)) continue;
            seen.add(y);
            parent.set(y, { from: x, slot });
            next.push(y);
          }
        }
      }
      const low = next.filter((y) => this.leads.get(y)! <= startLeads - 2).sort((a, b) => this.leads.get(a)! - this.leads.get(b)! || a - b);
      if (low.length > 0) goal = low[0]!;
      frontier = next.sort((a, b) => a - b);
    }
    if (goal === null) return null;
    const path: Array<{ slot: Slot; to: number }> = [];
    for (let at = goal; at !== start; ) {
      const step = parent.get(at)!;
      path.unshift({ slot: step.slot, to: at });
      at = step.from;
    }
    return path;
  }

  /** Makes `to` (a replica of the partition) its preferred leader. */
  private lead(slot: Slot, to: number): void {
    const from = slot.replicas[0]!;
    if (from === to) return;
    slot.replicas.splice(slot.replicas.indexOf(to), 1);
    slot.replicas.unshift(to);
    this.passLead(slot, from, to);
    this.changed.add(slot);
  }

  /** The preferred leader of `slot` went from `from` to `to`: their counts follow (brokers that cannot lead are not counted). */
  private passLead(slot: Slot, from: number, to: number): void {
    this.adjustLead(slot, from, -1);
    this.adjustLead(slot, to, +1);
  }

  private adjustLead(slot: Slot, id: number, delta: number): void {
    const leads = this.leads.get(id);
    if (leads === undefined) return;
    this.leads.set(id, leads + delta);
    if (delta > 0) this.ledBy.get(id)!.add(slot);
    else this.ledBy.get(id)!.delete(slot);
  }

  private mayChange(slot: Slot): boolean {
    return this.changed.has(slot) || this.changed.size < this.movesMax;
  }

  private tooFew(slot: Slot, replicas = slot.replicas.length): SkeinError {
    return new SkeinError('INVALID_REPLICATION_FACTOR', {
      message: `${slot.topic}/${slot.partition} needs ${replicas} replicas on separate brokers, and only [${this.open.join(',')}] are active and alive to take them`,
      details: { topic: slot.topic, partition: slot.partition, brokers: this.open },
    });
  }
}

/** Lexicographic order of two equally long rankings. */
function before(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}
