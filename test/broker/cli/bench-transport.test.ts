import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../broker/cli/args.js';
import { idealRetransmitRatio } from '../../../broker/cli/bench/experiment.js';
import { median, percentile } from '../../../broker/cli/bench/latency.js';
import { parseTransportBenchFlags, runTransportBenchCommand } from '../../../broker/cli/bench/transport-command.js';

describe('skein bench transport flags', () => {
  it('has defaults and reads every flag in both spellings', () => {
    expect(parseTransportBenchFlags([])).toEqual({
      lossRate: 0,
      datagramBytes: 1200,
      mode: 'fixed',
      seconds: 3,
      runs: 1,
      messageBytes: 65_536,
      lossSide: 'both',
      seed: 1,
      json: false,
      help: false,
    });
    expect(
      parseTransportBenchFlags(['--loss', '0.1', '--size=8192', '--mode', 'newreno', '--seconds', '1.5', '--runs=3', '--message-bytes', '1000', '--loss-side', 'send', '--seed', '9', '--json']),
    ).toEqual({ lossRate: 0.1, datagramBytes: 8192, mode: 'newreno', seconds: 1.5, runs: 3, messageBytes: 1000, lossSide: 'send', seed: 9, json: true, help: false });
  });

  it('rejects bad flags as usage errors naming them', () => {
    const bad: [string[], RegExp][] = [
      [['--lose', '0.1'], /^unknown flag --lose \(did you mean --loss\?\)$/],
      [['--loss'], /^--loss needs a value$/],
      [['--loss', '--json'], /^--loss needs a value, got the flag --json/],
      [['--loss', '1.5'], /^--loss must be between 0 and 0.9, got "1.5"$/],
      [['--loss', '-0.1'], /^--loss must be between 0 and 0.9, got "-0.1"$/],
      [['--loss', 'ten'], /^--loss must be a number, got "ten"$/],
      [['--loss', ''], /^--loss must be a number, got ""$/],
      [['--size', '100'], /^--size must be between 1200 and 65507, got "100"$/],
      [['--size', '1500.5'], /^--size must be an integer, got "1500.5"$/],
      [['--mode', 'cubic'], /^--mode must be one of fixed, newreno, got "cubic"$/],
      [['--seconds', '0'], /^--seconds must be between 0.2 and 600/],
      [['--runs', '2.5'], /^--runs must be an integer/],
      [['--loss-side', 'up'], /^--loss-side must be one of send, receive, both/],
      [['--json=yes'], /^--json takes no value$/],
      [['--json', '--json'], /^--json is given more than once$/],
      [['0.1'], /^unexpected argument "0.1"$/],
    ];
    for (const [argv, message] of bad) {
      expect(() => parseTransportBenchFlags(argv), argv.join(' ')).toThrow(message);
      expect(() => parseTransportBenchFlags(argv)).toThrow(UsageError);
    }
  });

  it('asks for help whatever else the line holds', () => {
    expect(parseTransportBenchFlags(['--loss', '7', '-h']).help).toBe(true);
    expect(parseTransportBenchFlags(['--bogus', '--help']).help).toBe(true);
  });

  it('refuses to run as a role without a parent process', async () => {
    await expect(runTransportBenchCommand(['--bench-role', 'skein-sender'])).rejects.toThrow(/--bench-role is internal/);
  });
});

describe('bench arithmetic', () => {
  it('computes medians, percentiles and the ideal retransmission ratio', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99)).toBe(10);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50)).toBe(5);
    expect(Number.isNaN(percentile([], 50))).toBe(true);
    expect(idealRetransmitRatio(0)).toBe(0);
    expect(idealRetransmitRatio(0.2)).toBeCloseTo(0.25, 12);
  });

});
