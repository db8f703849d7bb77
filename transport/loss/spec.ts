import { transportLimits } from '../limits.js';
import type { LossSide } from './types.js';
import {
  formatDurationMs,
  formatRate,
  formatSize,
  invalidSpec,
  parseDurationMs,
  parseProbability,
  parseRateBitsPerSecond,
  parseSeed,
  parseSizeBytes,
} from './units.js';

/**
 * What faults a loss model injects. Every field is optional: an empty spec is
 * a perfect link. The text form (SKEIN_LOSS, --loss) is a comma-separated list
 * of key=value items, for example "loss=0.1,dup=0.01,reorder=0.05,delay=5ms,jitter=2ms,seed=7".
 */
export interface LossSpec {
  /** Seed of every random draw (unsigned 32-bit); the same seed replays the same faults. Default 1. */
  seed?: number;
  /** Where the faults apply. Default 'both': the process sits on a lossy link in both directions. */
  side?: LossSide;
  /** Bernoulli loss probability per datagram. Key `loss`. */
  loss?: number;
  /** Burst loss (Gilbert-Elliott). Keys `ge.p`, `ge.r`, `ge.bad`, `ge.good`. */
  burst?: GilbertElliottSpec;
  /** Probability that a datagram is delivered twice. Key `dup`. */
  duplicate?: number;
  /** Probability that a datagram is held back by `reorderDelayMs`, so later ones overtake it. Key `reorder`. */
  reorder?: number;
  /** Extra delay of a reordered datagram. Key `reorder.delay`; default 10ms. */
  reorderDelayMs?: number;
  /** Fixed one-way delay. Key `delay`. */
  delayMs?: number;
  /** Each datagram's delay varies uniformly within ±jitter (never below 0, never reordering). Key `jitter`. */
  jitterMs?: number;
  /** Bandwidth cap; datagrams queue behind it. Key `rate` (10mbit, 2MB/s). */
  rateBitsPerSecond?: number;
  /** Bound of the bandwidth cap's queue; a datagram that does not fit is tail-dropped. Key `queue` (64KiB); default 256KiB. */
  queueBytes?: number;
  /** Partitions present from the start. Keys `blackhole`, `blackhole.send`, `blackhole.receive` (repeatable). */
  blackholes?: readonly BlackholeSpec[];
}

/**
 * Two-state Markov loss: in the good state datagrams are lost with
 * probability `lossGood`, in the bad state with `lossBad`. After each datagram
 * the chain moves good→bad with probability `pGoodToBad` and bad→good with
 * `pBadToGood`, so bursts last 1/pBadToGood datagrams on average.
 */
export interface GilbertElliottSpec {
  pGoodToBad: number;
  pBadToGood: number;
  /** Default 1: every datagram sent in the bad state is lost. */
  lossBad?: number;
  /** Default 0. */
  lossGood?: number;
}

export interface BlackholeSpec {
  /** "host:port", as the endpoint names its peers. */
  peer: string;
  /** 'send' drops what we send to the peer, 'receive' what it sends us, 'both' both (a full partition). */
  direction: LossSide;
}

const sides: readonly LossSide[] = ['send', 'receive', 'both'];
const blackholeKeys = new Map<string, LossSide>([
  ['blackhole', 'both'],
  ['blackhole.send', 'send'],
  ['blackhole.receive', 'receive'],
]);

type BurstFields = Partial<Mutable<GilbertElliottSpec>>;

/** How each key of the text form sets its field, in the order the error for an unknown key lists them. */
const itemReaders = new Map<string, (spec: Mutable<LossSpec>, burst: BurstFields, key: string, value: string) => void>([
  ['loss', (spec, _burst, key, value) => (spec.loss = parseProbability(key, value))],
  ['ge.p', (_spec, burst, key, value) => (burst.pGoodToBad = parseProbability(key, value))],
  ['ge.r', (_spec, burst, key, value) => (burst.pBadToGood = parseProbability(key, value))],
  ['ge.bad', (_spec, burst, key, value) => (burst.lossBad = parseProbability(key, value))],
  ['ge.good', (_spec, burst, key, value) => (burst.lossGood = parseProbability(key, value))],
  ['dup', (spec, _burst, key, value) => (spec.duplicate = parseProbability(key, value))],
  ['reorder', (spec, _burst, key, value) => (spec.reorder = parseProbability(key, value))],
  ['reorder.delay', (spec, _burst, key, value) => (spec.reorderDelayMs = parseDurationMs(key, value, transportLimits.lossDelayMsMax))],
  ['delay', (spec, _burst, key, value) => (spec.delayMs = parseDurationMs(key, value, transportLimits.lossDelayMsMax))],
  ['jitter', (spec, _burst, key, value) => (spec.jitterMs = parseDurationMs(key, value, transportLimits.lossDelayMsMax))],
  ['rate', (spec, _burst, key, value) => (spec.rateBitsPerSecond = parseRateBitsPerSecond(key, value, rateBounds))],
  ['queue', (spec, _burst, key, value) => (spec.queueBytes = parseSizeBytes(key, value, queueBounds))],
  ['side', (spec, _burst, key, value) => (spec.side = parseSide(key, value))],
  ['seed', (spec, _burst, key, value) => (spec.seed = parseSeed(key, value))],
]);
const knownKeys = [...itemReaders.keys(), ...blackholeKeys.keys()];

function parseSide(key: string, value: string): LossSide {
  if (!(sides as readonly string[]).includes(value)) throw invalidSpec(key, value, 'must be send, receive or both');
  return value as LossSide;
}

/** Parses the text form. Throws INVALID_CONFIG naming the key and value of the first bad item. */
export function parseLossSpec(text: string): LossSpec {
  if (text.length > transportLimits.lossSpecCharsMax) {
    throw invalidSpec('spec', `${text.slice(0, 32)}...`, `is longer than ${transportLimits.lossSpecCharsMax} characters`);
  }
  const spec: Mutable<LossSpec> = {};
  const burst: BurstFields = {};
  const blackholes: BlackholeSpec[] = [];
  const seen = new Set<string>();
  for (const rawItem of text.split(',')) {
    const item = rawItem.trim();
    if (item === '') continue;
    const equals = item.indexOf('=');
    if (equals < 0) throw invalidSpec(item, '', 'is not a key=value item');
    const key = item.slice(0, equals).trim();
    const value = item.slice(equals + 1).trim();
    if (value === '') throw invalidSpec(key, value, 'has no value');
    const blackholeDirection = blackholeKeys.get(key);
    if (blackholeDirection !== undefined) {
      blackholes.push({ peer: value, direction: blackholeDirection });
      continue;
    }
    if (seen.has(key)) throw invalidSpec(key, value, 'is given more than once');
    seen.add(key);
    const read = itemReaders.get(key);
    if (read === undefined) throw invalidSpec(key, value, `is not a known key (known: ${knownKeys.join(', ')})`);
    read(spec, burst, key, value);
  }
  if (Object.keys(burst).length > 0) spec.burst = burst as GilbertElliottSpec;
  if (blackholes.length > 0) spec.blackholes = blackholes;
  return normalizeLossSpec(spec);
}

const rateBounds = { min: transportLimits.lossRateBitsPerSecondMin, max: transportLimits.lossRateBitsPerSecondMax };
const queueBounds = { min: 1, max: transportLimits.lossQueueBytesMax };

/**
 * Checks a spec built in code by the same rules as the text form and returns
 * a frozen copy holding only the fields that are set. Throws INVALID_CONFIG.
 */
export function normalizeLossSpec(spec: LossSpec): LossSpec {
  const out: Mutable<LossSpec> = {};
  if (spec.seed !== undefined) {
    if (!Number.isInteger(spec.seed) || spec.seed < 0 || spec.seed > 0xffff_ffff) {
      throw invalidSpec('seed', String(spec.seed), 'is not an unsigned 32-bit integer');
    }
    out.seed = spec.seed;
  }
  if (spec.side !== undefined) {
    if (!sides.includes(spec.side)) throw invalidSpec('side', String(spec.side), 'must be send, receive or both');
    out.side = spec.side;
  }
  if (spec.loss !== undefined) out.loss = checkProbability('loss', spec.loss);
  if (spec.burst !== undefined) out.burst = normalizeBurst(spec.burst);
  if (spec.duplicate !== undefined) out.duplicate = checkProbability('dup', spec.duplicate);
  if (spec.reorder !== undefined) out.reorder = checkProbability('reorder', spec.reorder);
  if (spec.reorderDelayMs !== undefined) {
    if (spec.reorder === undefined) throw invalidSpec('reorder.delay', formatDurationMs(spec.reorderDelayMs), 'has no effect without reorder');
    out.reorderDelayMs = checkDuration('reorder.delay', spec.reorderDelayMs);
  }
  if (spec.delayMs !== undefined) out.delayMs = checkDuration('delay', spec.delayMs);
  if (spec.jitterMs !== undefined) out.jitterMs = checkDuration('jitter', spec.jitterMs);
  if (spec.rateBitsPerSecond !== undefined) {
    const rate = spec.rateBitsPerSecond;
    if (!Number.isFinite(rate) || rate < rateBounds.min || rate > rateBounds.max) {
      throw invalidSpec('rate', `${rate}bit`, `is outside ${rateBounds.min}..${rateBounds.max} bit/s`);
    }
    out.rateBitsPerSecond = rate;
  }
  if (spec.queueBytes !== undefined) {
    const queue = spec.queueBytes;
    if (!Number.isInteger(queue) || queue < queueBounds.min || queue > queueBounds.max) {
      throw invalidSpec('queue', `${queue}B`, `is outside ${queueBounds.min}..${queueBounds.max} bytes`);
    }
    if (spec.rateBitsPerSecond === undefined) throw invalidSpec('queue', formatSize(queue), 'has no effect without rate');
    out.queueBytes = queue;
  }
  if (spec.blackholes !== undefined && spec.blackholes.length > 0) {
    if (spec.blackholes.length > transportLimits.lossBlackholesMax) {
      throw invalidSpec('blackhole', `${spec.blackholes.length} peers`, `exceeds ${transportLimits.lossBlackholesMax} peers`);
    }
    out.blackholes = Object.freeze(
      spec.blackholes.map((hole) => {
        checkPeer('blackhole', hole.peer);
        if (!sides.includes(hole.direction)) throw invalidSpec('blackhole', hole.peer, `has an unknown direction ${String(hole.direction)}`);
        return Object.freeze({ peer: hole.peer, direction: hole.direction });
      }),
    );
  }
  return Object.freeze(out);
}

function normalizeBurst(burst: GilbertElliottSpec): GilbertElliottSpec {
  if (burst.pGoodToBad === undefined) throw invalidSpec('ge.p', '', 'is required with the other ge.* keys');
  if (burst.pBadToGood === undefined) throw invalidSpec('ge.r', '', 'is required with the other ge.* keys');
  const out: Mutable<GilbertElliottSpec> = {
    pGoodToBad: checkProbability('ge.p', burst.pGoodToBad),
    pBadToGood: checkProbability('ge.r', burst.pBadToGood),
  };
  if (burst.lossBad !== undefined) out.lossBad = checkProbability('ge.bad', burst.lossBad);
  if (burst.lossGood !== undefined) out.lossGood = checkProbability('ge.good', burst.lossGood);
  return Object.freeze(out);
}

function checkProbability(key: string, p: number): number {
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw invalidSpec(key, String(p), 'is not a probability between 0 and 1');
  return p;
}

function checkDuration(key: string, ms: number): number {
  if (typeof ms !== 'number' || !(ms >= 0 && ms <= transportLimits.lossDelayMsMax)) {
    throw invalidSpec(key, `${ms}ms`, `is outside 0..${transportLimits.lossDelayMsMax}ms`);
  }
  return ms;
}

/** A peer address must survive the text form, which splits on "," and "=". */
export function checkPeer(key: string, peer: string): void {
  if (typeof peer !== 'string' || peer.length === 0 || peer.length > transportLimits.lossPeerCharsMax || /[,=\s]/.test(peer)) {
    throw invalidSpec(key, String(peer), `is not a peer address (host:port, at most ${transportLimits.lossPeerCharsMax} characters, no "," "=" or spaces)`);
  }
}

/** The text form of a spec; `parseLossSpec(formatLossSpec(s))` equals the normalized `s`. */
export function formatLossSpec(spec: LossSpec): string {
  const s = normalizeLossSpec(spec);
  const items: string[] = [];
  if (s.loss !== undefined) items.push(`loss=${s.loss}`);
  if (s.burst !== undefined) {
    items.push(`ge.p=${s.burst.pGoodToBad}`, `ge.r=${s.burst.pBadToGood}`);
    if (s.burst.lossBad !== undefined) items.push(`ge.bad=${s.burst.lossBad}`);
    if (s.burst.lossGood !== undefined) items.push(`ge.good=${s.burst.lossGood}`);
  }
  if (s.duplicate !== undefined) items.push(`dup=${s.duplicate}`);
  if (s.reorder !== undefined) items.push(`reorder=${s.reorder}`);
  if (s.reorderDelayMs !== undefined) items.push(`reorder.delay=${formatDurationMs(s.reorderDelayMs)}`);
  if (s.delayMs !== undefined) items.push(`delay=${formatDurationMs(s.delayMs)}`);
  if (s.jitterMs !== undefined) items.push(`jitter=${formatDurationMs(s.jitterMs)}`);
  if (s.rateBitsPerSecond !== undefined) items.push(`rate=${formatRate(s.rateBitsPerSecond)}`);
  if (s.queueBytes !== undefined) items.push(`queue=${formatSize(s.queueBytes)}`);
  if (s.side !== undefined) items.push(`side=${s.side}`);
  if (s.seed !== undefined) items.push(`seed=${s.seed}`);
  for (const hole of s.blackholes ?? []) {
    items.push(`${hole.direction === 'both' ? 'blackhole' : `blackhole.${hole.direction}`}=${hole.peer}`);
  }
  return items.join(',');
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
