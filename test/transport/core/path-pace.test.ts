import { describe, expect, it } from 'vitest';
import { PathPace } from '../../../transport/core/path-pace.js';

/** PathPace: what a paced client's credit must cover for its path, from arrivals over spans of one minimum RTT. */
describe('PathPace', () => {
  const gain = 2;
  const minRttMs = 50;

  /** Arrivals of `bytesPerMs` every millisecond from `fromMs` for `ms`; returns the last answer and the bytes so far. */
  function arrive(pace: PathPace, from: { ms: number; bytes: number }, ms: number, bytesPerMs: number): { answer: number; ms: number; bytes: number } {
    let answer = 0;
    let bytes = from.bytes;
    for (let t = 1; t <= ms; t++) {
      bytes += bytesPerMs;
      answer = pace.onArrival(bytes, from.ms + t, minRttMs);
    }
    return { answer, ms: from.ms + ms, bytes };
  }

  it('knows nothing of the path before an RTT sample', () => {
    const pace = new PathPace(gain, 1);
    expect(pace.onArrival(1_000_000, 10, Infinity)).toBe(0);
  });

  it('covers gain times what the path holds at a steady rate, from the end of the first whole span', () => {
    const pace = new PathPace(gain, 1);
    // The first arrival starts a span; the answer stays 0 until that span ends.
    const first = arrive(pace, { ms: 0, bytes: 0 }, minRttMs, 1000);
    expect(first.answer).toBe(0);
    const steady = arrive(pace, first, 3 * minRttMs, 1000);
    expect(steady.answer).toBe(gain * 1000 * minRttMs);
  });

  it('a span that ends in a lull does not take the pace down at once; a second one does', () => {
    const pace = new PathPace(gain, 1);
    const steady = arrive(pace, arrive(pace, { ms: 0, bytes: 0 }, minRttMs, 1000), 2 * minRttMs, 1000);
    // One span into the lull: the span just ended was slower, the one before it was not.
    const lull = arrive(pace, steady, minRttMs, 100);
    expect(lull.answer).toBe(gain * 1000 * minRttMs);
    // Two whole spans of the lull: both say the slower rate.
    const again = arrive(pace, lull, 2 * minRttMs, 100);
    expect(again.answer).toBe(gain * 100 * minRttMs);
  });

  it('a sender that pauses for whole spans starts over from little', () => {
    const pace = new PathPace(gain, 1);
    const steady = arrive(pace, arrive(pace, { ms: 0, bytes: 0 }, minRttMs, 1000), 2 * minRttMs, 1000);
    const afterPause = arrive(pace, { ms: steady.ms + 10 * minRttMs, bytes: steady.bytes }, 1, 1000);
    const next = arrive(pace, afterPause, minRttMs, 0);
    expect(next.answer).toBeLessThan(gain * 100 * minRttMs);
  });

  it('spans are at least spanMsMin long on a path of almost no delay', () => {
    const pace = new PathPace(gain, 5);
    let answer = 0;
    for (let t = 1; t <= 20; t++) answer = pace.onArrival(t * 1000, t, 0.01);
    // 1000 bytes a millisecond over spans of 5 ms, times the 0.01 ms path.
    expect(answer).toBe(Math.ceil(gain * 1000 * 0.01));
  });
});
