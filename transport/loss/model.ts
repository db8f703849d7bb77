import { Prng } from '../core/prng.js';
import { SkeinError } from '../errors.js';
import { transportLimits } from '../limits.js';
import { checkPeer, normalizeLossSpec, parseLossSpec, type LossSpec } from './spec.js';
import type { LossDirection, LossModel, LossSide, LossStats } from './types.js';

const drop: readonly number[] = Object.freeze([]);
const deliverNow: readonly number[] = Object.freeze([0]);

/**
 * One direction of the simulated link. Each fault draws from its own PRNG
 * stream, so turning on duplication does not change which datagrams are lost:
 * knobs compose without disturbing each other's pattern for a given seed.
 */
class LinkDirection {
  private readonly lossRng: Prng;
  private readonly burstRng: Prng;
  private readonly duplicateRng: Prng;
  private readonly reorderRng: Prng;
  private readonly jitterRng: Prng;
  private burstBad = false;
  /** When the bandwidth cap's link finishes sending what is queued. */
  private busyUntilMs = -Infinity;
  /** Latest delivery time handed out in order: jitter never reorders, only `reorder` does. */
  private inOrderFloorMs = -Infinity;

  constructor(
    private readonly spec: LossSpec,
    rng: Prng,
    private readonly stats: LossStats,
  ) {
    this.lossRng = rng.fork();
    this.burstRng = rng.fork();
    this.duplicateRng = rng.fork();
    this.reorderRng = rng.fork();
    this.jitterRng = rng.fork();
  }

  decide(nowMs: number, bytes: number): readonly number[] {
    const spec = this.spec;
    this.stats.datagrams++;

    // The bottleneck queue sits before the lossy wire: a datagram lost later still used its share of the bandwidth.
    let queueDelayMs = 0;
    if (spec.rateBitsPerSecond !== undefined) {
      const queued = this.enqueue(nowMs, bytes, spec.rateBitsPerSecond);
      if (queued === null) {
        this.stats.queueDropped++;
        return drop;
      }
      queueDelayMs = queued;
    }
    if (spec.loss !== undefined && spec.loss > 0 && this.lossRng.chance(spec.loss)) {
      this.stats.dropped++;
      return drop;
    }
    if (spec.burst !== undefined && this.burstLost()) {
      this.stats.dropped++;
      return drop;
    }

    let delayMs = queueDelayMs + (spec.delayMs ?? 0);
    if (spec.jitterMs !== undefined && spec.jitterMs > 0) {
      delayMs = Math.max(0, delayMs + (this.jitterRng.next() * 2 - 1) * spec.jitterMs);
    }
    const floorDelayMs = this.inOrderFloorMs - nowMs;
    if (delayMs < floorDelayMs) delayMs = floorDelayMs;

    if (spec.reorder !== undefined && spec.reorder > 0 && this.reorderRng.chance(spec.reorder)) {
      // Held back outside the in-order floor, so datagrams sent after it arrive before it.
      delayMs += spec.reorderDelayMs ?? transportLimits.lossReorderDelayMsDefault;
      this.stats.reordered++;
    } else {
      this.inOrderFloorMs = nowMs + delayMs;
    }

    if (delayMs > 0) this.stats.delayed++;
    if (spec.duplicate !== undefined && spec.duplicate > 0 && this.duplicateRng.chance(spec.duplicate)) {
      this.stats.duplicated++;
      return [delayMs, delayMs];
    }
    return delayMs === 0 ? deliverNow : [delayMs];
  }

  /** Gilbert-Elliott: lose by the current state's probability, then step the chain. */
  private burstLost(): boolean {
    const burst = this.spec.burst!;
    const lossProbability = this.burstBad ? (burst.lossBad ?? 1) : (burst.lossGood ?? 0);
    const lost = lossProbability > 0 && this.burstRng.chance(lossProbability);
    this.burstBad = this.burstBad ? !this.burstRng.chance(burst.pBadToGood) : this.burstRng.chance(burst.pGoodToBad);
    return lost;
  }

  /**
   * A link of fixed rate with a FIFO queue bounded in bytes. Returns the delay
   * until the datagram has left the link, or null when it is tail-dropped. An
   * idle link always takes one datagram, however small the queue bound.
   */
  private enqueue(nowMs: number, bytes: number, rateBitsPerSecond: number): number | null {
    const bytesPerMs = rateBitsPerSecond / 8000;
    const backlogMs = Math.max(0, this.busyUntilMs - nowMs);
    const backlogBytes = backlogMs * bytesPerMs;
    const queueBytes = this.spec.queueBytes ?? transportLimits.lossQueueBytesDefault;
    if (backlogBytes > 0 && backlogBytes + bytes > queueBytes) return null;
    this.busyUntilMs = Math.max(this.busyUntilMs, nowMs) + bytes / bytesPerMs;
    return this.busyUntilMs - nowMs;
  }
}

/**
 * The loss model built from a LossSpec: every fault of the spec on the sides
 * it names, plus blackholes that can be opened and healed at run time (one
 * peer at a time, in one or both directions) to make and heal partitions.
 */
export class LinkLossModel implements LossModel {
  readonly spec: LossSpec;
  readonly side: LossSide;
  readonly stats: LossStats = {
    datagrams: 0,
    dropped: 0,
    duplicated: 0,
    reordered: 0,
    delayed: 0,
    queueDropped: 0,
    blackholed: 0,
  };
  private readonly sendLink: LinkDirection | null;
  private readonly receiveLink: LinkDirection | null;
  /** Peer → which directions are cut. */
  private readonly blackholes = new Map<string, { send: boolean; receive: boolean }>();

  constructor(spec: LossSpec) {
    this.spec = normalizeLossSpec(spec);
    this.side = this.spec.side ?? 'both';
    const rng = new Prng(this.spec.seed ?? 1);
    // Each direction forks its own streams whatever the side, so `side` does not shift the other direction's draws.
    const sendRng = rng.fork();
    const receiveRng = rng.fork();
    this.sendLink = this.side === 'receive' ? null : new LinkDirection(this.spec, sendRng, this.stats);
    this.receiveLink = this.side === 'send' ? null : new LinkDirection(this.spec, receiveRng, this.stats);
    for (const hole of this.spec.blackholes ?? []) this.blackhole(hole.peer, hole.direction);
  }

  decide(nowMs: number, peer: string, bytes: number, direction: LossDirection = 'send'): readonly number[] {
    if (this.blackholes.size > 0) {
      const hole = this.blackholes.get(peer);
      if (hole !== undefined && hole[direction]) {
        this.stats.blackholed++;
        return drop;
      }
    }
    const link = direction === 'send' ? this.sendLink : this.receiveLink;
    return link === null ? deliverNow : link.decide(nowMs, bytes);
  }

  /** Cuts the path to and/or from `peer` until `heal`; direction 'both' is a full partition. */
  blackhole(peer: string, direction: LossSide = 'both'): void {
    checkPeer('blackhole', peer);
    const hole = this.blackholes.get(peer);
    if (hole === undefined && this.blackholes.size >= transportLimits.lossBlackholesMax) {
      throw new SkeinError('INVALID_ARGUMENT', {
        message: `a loss model holds at most ${transportLimits.lossBlackholesMax} blackholed peers`,
      });
    }
    const next = hole ?? { send: false, receive: false };
    if (direction !== 'receive') next.send = true;
    if (direction !== 'send') next.receive = true;
    this.blackholes.set(peer, next);
  }

  /** Restores the path to and/or from `peer`. Healing a path that is not cut changes nothing. */
  heal(peer: string, direction: LossSide = 'both'): void {
    const hole = this.blackholes.get(peer);
    if (hole === undefined) return;
    if (direction !== 'receive') hole.send = false;
    if (direction !== 'send') hole.receive = false;
    if (!hole.send && !hole.receive) this.blackholes.delete(peer);
  }

  healAll(): void {
    this.blackholes.clear();
  }

  isBlackholed(peer: string, direction: LossDirection): boolean {
    return this.blackholes.get(peer)?.[direction] ?? false;
  }
}

/** Builds a loss model from a spec object or its text form. Throws INVALID_CONFIG on a bad spec. */
export function createLossModel(spec: LossSpec | string): LinkLossModel {
  return new LinkLossModel(typeof spec === 'string' ? parseLossSpec(spec) : spec);
}
