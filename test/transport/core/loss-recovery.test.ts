import { describe, expect, it } from 'vitest';
import { FixedWindow } from '../../../transport/core/congestion.js';
import { LossRecovery, type LossRecoveryListener } from '../../../transport/core/loss-recovery.js';
import { RttEstimator } from '../../../transport/core/rtt.js';
import { packetFlag, SentPackets } from '../../../transport/core/sent-packets.js';

const reordering = { packetThreshold: 3, packetThresholdMax: 1024, reorderFractionMin: 1 / 8, reorderFractionMax: 4, lostRememberedMax: 256 };

function setup(): { recovery: LossRecovery; sent: SentPackets; lost: number[]; acked: number[]; listener: LossRecoveryListener } {
  const sent = new SentPackets(1024);
  const rtt = new RttEstimator(333);
  const recovery = new LossRecovery(sent, rtt, new FixedWindow(1 << 20), { ...reordering, timerGranularityMs: 1, persistentCongestionThreshold: 3, ptoMaxMs: 10_000 }, 5);
  const lost: number[] = [];
  const acked: number[] = [];
  const listener: LossRecoveryListener = {
    onStreamAcked: (offset) => acked.push(offset),
    onStreamLost: (offset) => lost.push(offset),
    onControlLost: () => {},
    onAckOfAck: () => {},
  };
  return { recovery, sent, lost, acked, listener };
}

/** Sends `count` packets at `atMs`, packet n carrying stream offset 1000·n. */
function send(sent: SentPackets, count: number, atMs: number): void {
  for (let i = 0; i < count; i++) sent.record(atMs, 1200, packetFlag.ackEliciting, 1000 * sent.nextPn, 1000, -1);
}

function ack(recovery: LossRecovery, listener: LossRecoveryListener, nowMs: number, ranges: [number, number][]): void {
  const flat = new Float64Array(ranges.flat());
  recovery.onAck(nowMs, flat, ranges.length, 0, listener);
}

describe('loss detection (RFC 9002 §6.1)', () => {
  it('declares a packet lost once one sent three later is acknowledged', () => {
    const { recovery, sent, lost, listener } = setup();
    send(sent, 6, 0);
    ack(recovery, listener, 10, [[1, 4]]); // largest 3: packet 0 is 3 behind
    expect(lost).toEqual([0]);
    expect(recovery.counters.packetsLost).toBe(1);
    expect(sent.bytesInFlight).toBe(2 * 1200); // 4 and 5 still out
    expect(recovery.rtt.latestMs).toBe(10);
  });

  it('declares a packet lost 9/8 RTT after a later one was acknowledged (time threshold)', () => {
    const { recovery, sent, lost, listener } = setup();
    send(sent, 1, 0);
    send(sent, 1, 1);
    ack(recovery, listener, 11, [[1, 2]]); // RTT 10 ms; packet 0 is one behind: not yet lost
    expect(lost).toEqual([]);
    expect(recovery.lossTimeMs).toBeCloseTo(0 + (9 / 8) * 10, 10);
    expect(recovery.deadlineMs()).toBe(recovery.lossTimeMs);
    expect(recovery.onTimeout(recovery.lossTimeMs, listener)).toBe('loss');
    expect(lost).toEqual([0]);
  });
});

describe('reordering taken for loss (adaptive thresholds, as RFC 8985 and Google QUIC)', () => {
  it('a packet declared lost by the packet threshold and then acknowledged raises the threshold past that reordering', () => {
    const { recovery, sent, lost, acked, listener } = setup();
    send(sent, 10, 0);
    ack(recovery, listener, 10, [[4, 10]]); // 0..3 overtaken by up to 9: declared lost
    expect(lost).toEqual([0, 1000, 2000, 3000]);
    acked.length = 0;
    ack(recovery, listener, 11, [[0, 10]]); // they arrive: reordered, not lost
    expect(recovery.counters.packetsLostSpuriously).toBe(4);
    expect(acked).toEqual([0, 1000, 2000, 3000]); // the stream drops their resends
    expect(recovery.packetThreshold).toBe(10);
    // The same reordering again is no loss.
    lost.length = 0;
    send(sent, 10, 20);
    ack(recovery, listener, 21, [[14, 20], [0, 10]]);
    expect(lost).toEqual([]);
    // A packet overtaken by more than that still is.
    send(sent, 1, 21);
    ack(recovery, listener, 22, [[14, 21], [0, 10]]);
    expect(lost).toEqual([10_000]);
  });

  it('a packet declared lost by the time threshold and then acknowledged widens the time threshold until it covers that delay', () => {
    const { recovery, sent, lost, listener } = setup();
    send(sent, 1, 0);
    send(sent, 1, 0);
    ack(recovery, listener, 10, [[1, 2]]); // RTT 10 ms
    recovery.onTimeout(recovery.lossTimeMs, listener);
    expect(lost).toEqual([0]);
    ack(recovery, listener, 30, [[0, 2]]); // packet 0 took 30 ms: the margin doubles from 1/8 until 10 · (1 + m) ≥ 30
    expect(recovery.reorderFraction).toBe(2);
    lost.length = 0;
    send(sent, 1, 40);
    send(sent, 1, 40);
    ack(recovery, listener, 50, [[3, 4], [0, 2]]);
    expect(recovery.lossTimeMs).toBeCloseTo(40 + 3 * 10, 10);
    expect(recovery.onTimeout(60, listener)).toBeNull();
    expect(lost).toEqual([]);
  });

  it('grows each threshold only to its limit, and remembers only the newest lost packets', () => {
    const sent = new SentPackets(1024);
    const rtt = new RttEstimator(333);
    const config = { ...reordering, packetThresholdMax: 6, reorderFractionMax: 1 / 2, lostRememberedMax: 2 };
    const recovery = new LossRecovery(sent, rtt, new FixedWindow(1 << 20), { ...config, timerGranularityMs: 1, persistentCongestionThreshold: 3, ptoMaxMs: 10_000 }, 5);
    const listener: LossRecoveryListener = { onStreamAcked: () => {}, onStreamLost: () => {}, onControlLost: () => {}, onAckOfAck: () => {} };
    send(sent, 20, 0);
    ack(recovery, listener, 10, [[16, 20]]); // 0..15 declared lost; only 14 and 15 remembered
    expect(recovery.counters.packetsLost).toBe(16);
    ack(recovery, listener, 100, [[0, 20]]);
    expect(recovery.counters.packetsLostSpuriously).toBe(2);
    expect(recovery.packetThreshold).toBe(6);
    expect(recovery.reorderFraction).toBe(1 / 2);
  });
});

describe('probe timeout (RFC 9002 §6.2)', () => {
  it('fires after srtt + 4·rttvar + max_ack_delay and backs off exponentially, capped', () => {
    const { recovery, sent, listener } = setup();
    send(sent, 1, 0);
    ack(recovery, listener, 20, [[0, 1]]); // srtt 20, rttvar 10
    send(sent, 1, 100);
    const base = 20 + 4 * 10 + 5;
    expect(recovery.deadlineMs()).toBe(100 + base);
    expect(recovery.onTimeout(100 + base - 0.001, listener)).toBeNull();
    expect(recovery.onTimeout(100 + base, listener)).toBe('pto');
    expect(recovery.deadlineMs()).toBe(100 + 2 * base);
    for (let i = 0; i < 20; i++) recovery.ptoCount++; // capped
    expect(recovery.ptoMs()).toBe(10_000); // the cap this test configured
  });

  it('caps the backoff, never the base probe timeout of a slow path', () => {
    const { recovery, sent, listener } = setup();
    send(sent, 1, 0);
    ack(recovery, listener, 4_000, [[0, 1]]); // srtt 4 s, rttvar 2 s: base 12 s, above the 10 s cap
    send(sent, 1, 5_000);
    const base = recovery.ptoBaseMs();
    expect(base).toBeGreaterThan(10_000);
    expect(recovery.ptoMs()).toBe(base);
    recovery.ptoCount = 5;
    expect(recovery.ptoMs()).toBe(base);
  });

  it('is not armed with nothing ack-eliciting in flight, and resets on a new acknowledgement', () => {
    const { recovery, sent, listener } = setup();
    expect(recovery.deadlineMs()).toBe(Infinity);
    sent.record(0, 50, 0, 0, 0, -1); // ACK-only packet
    expect(recovery.deadlineMs()).toBe(Infinity);
    send(sent, 1, 1);
    recovery.ptoCount = 3;
    ack(recovery, listener, 5, [[1, 2]]);
    expect(recovery.ptoCount).toBe(0);
  });
});

describe('sent-packet ring', () => {
  it('grows as needed and never tracks more than its capacity', () => {
    const sent = new SentPackets(1024);
    for (let i = 0; i < 1024; i++) {
      expect(sent.hasRoom).toBe(true);
      sent.record(i, 100, packetFlag.ackEliciting, 0, 0, -1);
    }
    expect(sent.hasRoom).toBe(false);
    expect(sent.slotOf(0)).toBeGreaterThanOrEqual(0);
    expect(sent.bytesInFlight).toBe(102_400);
  });
});
