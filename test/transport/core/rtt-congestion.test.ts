import { describe, expect, it } from 'vitest';
import { FixedWindow, NewReno } from '../../../transport/core/congestion.js';
import { Pacer } from '../../../transport/core/pacer.js';
import { RttEstimator } from '../../../transport/core/rtt.js';

describe('RTT estimator (RFC 9002 §5)', () => {
  it('starts from the initial RTT, then takes the first sample whole', () => {
    const rtt = new RttEstimator(333);
    expect([rtt.smoothedMs, rtt.varianceMs, rtt.hasSample]).toEqual([333, 166.5, false]);
    rtt.update(100, 0);
    expect([rtt.smoothedMs, rtt.varianceMs, rtt.minMs, rtt.latestMs]).toEqual([100, 50, 100, 100]);
  });

  it('smooths with 1/8 and 1/4 gains and subtracts the ack delay only above min RTT', () => {
    const rtt = new RttEstimator(333);
    rtt.update(100, 0);
    rtt.update(140, 10); // adjusted 130: var = 0.75·50 + 0.25·30 = 45, srtt = 0.875·100 + 0.125·130 = 103.75
    expect(rtt.varianceMs).toBeCloseTo(45, 10);
    expect(rtt.smoothedMs).toBeCloseTo(103.75, 10);
    rtt.update(105, 10); // 105 < min(100) + 10: the delay is not subtracted
    expect(rtt.smoothedMs).toBeCloseTo(0.875 * 103.75 + 0.125 * 105, 10);
    expect(rtt.minMs).toBe(100);
    rtt.update(80, 0);
    expect(rtt.minMs).toBe(80);
  });

  it('gives the PTO and the 9/8 loss delay with the granularity floor', () => {
    const rtt = new RttEstimator(333);
    rtt.update(10, 0);
    expect(rtt.ptoBaseMs(1, 5)).toBe(10 + 4 * 5 + 5);
    expect(rtt.lossDelayMs(1)).toBeCloseTo(11.25, 10);
    const tiny = new RttEstimator(333);
    tiny.update(0.1, 0);
    expect(tiny.lossDelayMs(1)).toBe(1);
    expect(tiny.ptoBaseMs(1, 0)).toBeCloseTo(0.1 + 1, 10);
  });
});

describe('NewReno (RFC 9002 §7)', () => {
  const mds = 1200;
  const make = (): NewReno => new NewReno({ datagramBytes: mds, initialWindowPackets: 10, minimumWindowPackets: 2 });

  it('grows by the acknowledged bytes in slow start, only while the window is used', () => {
    const cc = make();
    expect(cc.windowBytes).toBe(14_720);
    expect(cc.phase).toBe('slow-start');
    cc.onAck(10, 1, 1200, 14_000);
    expect(cc.windowBytes).toBe(15_920);
    cc.onAck(11, 2, 1200, 1000); // application-limited: less than half the window in flight
    expect(cc.windowBytes).toBe(15_920);
  });

  it('halves once per recovery period, then grows a datagram per window in avoidance', () => {
    const cc = make();
    cc.onCongestionEvent(100, 90, 1);
    expect(cc.windowBytes).toBe(7360);
    expect(cc.slowStartThresholdBytes).toBe(7360);
    expect(cc.phase).toBe('recovery');
    cc.onCongestionEvent(101, 95, 1); // sent before recovery began: same event
    expect(cc.windowBytes).toBe(7360);
    cc.onAck(102, 99, 1200, 7000); // sent before recovery: no growth, still recovering
    expect([cc.windowBytes, cc.phase]).toEqual([7360, 'recovery']);
    cc.onAck(103, 101, 1200, 7000); // sent after: recovery ends, avoidance accumulates
    expect(cc.phase).toBe('avoidance');
    for (let i = 0; i < 6; i++) cc.onAck(104, 102, 1200, 7000);
    expect(cc.windowBytes).toBe(7360 + mds);
    cc.onCongestionEvent(200, 150, 1);
    expect(cc.windowBytes).toBe((7360 + mds) / 2);
  });

  it('undoes a reduction once every packet it declared lost proves reordered (RFC 9438 §4.9)', () => {
    const cc = make();
    cc.onCongestionEvent(100, 90, 1);
    cc.onCongestionEvent(101, 95, 1); // the same event: its packets count too
    expect(cc.windowBytes).toBe(7360);
    cc.onSpuriousLoss(90);
    expect([cc.windowBytes, cc.phase]).toEqual([7360, 'recovery']);
    cc.onSpuriousLoss(95);
    expect([cc.windowBytes, cc.slowStartThresholdBytes, cc.phase]).toEqual([14_720, Infinity, 'slow-start']);
  });

  it('keeps a reduction that a real loss caused, and one an older packet cannot speak for', () => {
    const cc = make();
    cc.onCongestionEvent(100, 90, 2);
    cc.onSpuriousLoss(90); // the other lost packet never arrives
    expect(cc.windowBytes).toBe(7360);
    const later = make();
    later.onCongestionEvent(100, 90, 1);
    later.onSpuriousLoss(101); // sent after the reduction began: not one of its packets
    expect(later.windowBytes).toBe(7360);
  });

  it('never goes below the minimum window and collapses on persistent congestion', () => {
    const cc = make();
    for (let t = 1; t < 20; t++) cc.onCongestionEvent(t * 10, t * 10 - 1, 1);
    expect(cc.windowBytes).toBe(2 * mds);
    const other = make();
    other.onPersistentCongestion();
    expect(other.windowBytes).toBe(2 * mds);
    expect(other.phase).toBe('slow-start');
  });

  it('paces at 1.25 × window / RTT; a fixed window ignores loss', () => {
    const cc = make();
    expect(cc.pacingRateBytesPerMs(10)).toBeCloseTo((1.25 * 14_720) / 10, 10);
    const fixed = new FixedWindow(1_000_000);
    fixed.onCongestionEvent();
    fixed.onPersistentCongestion();
    expect(fixed.windowBytes).toBe(1_000_000);
    expect(fixed.phase).toBe('fixed');
  });
});

describe('Pacer', () => {
  it('lets a burst out at once, then spaces packets at the rate', () => {
    const pacer = new Pacer({ burstMs: 2, burstBytesMin: 3000, burstBytesMax: 100_000 });
    const rate = 1000; // bytes per ms → bucket of 3000 bytes (the minimum)
    let sent = 0;
    while (pacer.releaseTimeMs(0, 1000, rate) <= 0) {
      pacer.onSent(1000);
      sent++;
    }
    expect(sent).toBe(3);
    const next = pacer.releaseTimeMs(0, 1000, rate);
    expect(next).toBeGreaterThan(0.9);
    expect(next).toBeLessThanOrEqual(1.0);
    expect(pacer.releaseTimeMs(next, 1000, rate)).toBe(next);
  });
});
