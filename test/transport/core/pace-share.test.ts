import { describe, expect, it } from 'vitest';
import { PaceShare, type PaceShareMember } from '../../../transport/core/pace-share.js';

/** PaceShare: up to sendersFull clients sending at once get the whole pace; more share that many paces. */
describe('PaceShare', () => {
  const pace = 256 * 1024;
  const full = 4;
  const stepMin = 32 * 1024;
  const periodMs = 100;
  const members = (n: number): PaceShareMember[] => Array.from({ length: n }, () => ({ paceSharePeriod: -1 }));

  it('gives the whole pace to sendersFull senders and a share to one more', () => {
    const shares = new PaceShare(pace, full, stepMin, periodMs);
    const crowd = members(full + 1);
    const answers = crowd.map((m) => shares.onData(m, 0));
    expect(answers.slice(0, full)).toEqual(Array(full).fill(pace));
    expect(answers[full]).toBe(Math.floor((full * pace) / (full + 1)));
    // A member counted once per period, however often its data arrives.
    expect(shares.onData(crowd[0]!, 50)).toBe(Math.floor((full * pace) / (full + 1)));
  });

  it('never goes below the smallest step, nor above the pace', () => {
    const shares = new PaceShare(pace, full, stepMin, periodMs);
    for (const m of members(1000)) shares.onData(m, 0);
    expect(shares.shareBytes).toBe(stepMin);
    const small = new PaceShare(16 * 1024, full, stepMin, periodMs);
    for (const m of members(1000)) small.onData(m, 0);
    expect(small.shareBytes).toBe(16 * 1024);
  });

  it('forgets senders that stopped within two periods', () => {
    const shares = new PaceShare(pace, full, stepMin, periodMs);
    const crowd = members(3 * full);
    for (const m of crowd) shares.onData(m, 0);
    const lone = crowd[0]!;
    // The next period still counts the crowd (the period before it); the one after counts only who sent.
    expect(shares.onData(lone, periodMs)).toBe(Math.floor((full * pace) / (3 * full)));
    expect(shares.onData(lone, 2 * periodMs)).toBe(pace);
  });
});
