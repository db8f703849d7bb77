import { describe, expect, it } from 'vitest';
import { Progress, type ProgressOptions } from '../../../broker/cli/progress.js';

/** A stream that records what a screen (or a log file) would receive, and a clock the test moves. */
function fixture(terminal: boolean, columns = 80) {
  const written: string[] = [];
  const stream = { isTTY: terminal, columns, write: (text: string) => written.push(text) > 0 };
  let nowMs = 0;
  let done = 0;
  const make = (options: Partial<ProgressOptions> = {}): Progress =>
    new Progress({ label: 'e2e', total: 1000, unit: 'sent', rateUnit: 'msgs', sample: () => ({ done, detail: 'received 3' }), stream, now: () => nowMs, ...options });
  return {
    written,
    make,
    advance(ms: number, units: number): void {
      nowMs += ms;
      done += units;
    },
  };
}

describe('progress', () => {
  it('on a terminal redraws one line: bar, counts, rate, detail and time left, fitted to the width', () => {
    const f = fixture(true);
    const progress = f.make();
    f.advance(1000, 250);
    progress.tick();
    f.advance(1000, 250);
    progress.tick();
    expect(f.written).toEqual([
      '\r\x1b[Ke2e [#####--------------]  25%  250/1000 sent  250 msgs/s  received 3  ETA 0:03',
      '\r\x1b[Ke2e [##########---------]  50%  500/1000 sent  250 msgs/s  received 3  ETA 0:02',
    ]);
    for (const line of f.written) expect(line.length - 4).toBeLessThanOrEqual(79);
  });

  it('keeps a narrow terminal to its width: a shorter bar, then none, then a cut line', () => {
    for (const columns of [60, 40, 20]) {
      const f = fixture(true, columns);
      const progress = f.make();
      f.advance(1000, 100);
      progress.tick();
      const line = f.written[0]!.slice(4);
      expect([columns, line.length <= columns - 1]).toEqual([columns, true]);
      expect(line.startsWith('e2e ')).toBe(true);
    }
  });

  it('elsewhere writes plain lines without bar or escape codes', () => {
    const f = fixture(false);
    const progress = f.make();
    f.advance(1000, 100);
    progress.tick();
    expect(f.written).toEqual(['e2e  100/1000 sent  100 msgs/s  received 3  ETA 0:09\n']);
  });

  it('shows the rate of the last seconds, not the average since the start', () => {
    const f = fixture(false);
    const progress = f.make({ total: 100_000 });
    for (let second = 0; second < 5; second++) {
      f.advance(1000, 1000);
      progress.tick();
    }
    for (let second = 0; second < 3; second++) {
      f.advance(1000, 100);
      progress.tick();
    }
    expect(f.written.at(-1)).toMatch(/ 100 msgs\/s /);
  });

  it('has no time left to show before any progress, and none left once done', () => {
    const f = fixture(false);
    const progress = f.make();
    f.advance(1000, 0);
    progress.tick();
    f.advance(1000, 1000);
    progress.tick();
    expect(f.written[0]).toMatch(/ETA -:--\n$/);
    expect(f.written[1]).toMatch(/1000\/1000 sent .* ETA 0:00\n$/);
  });

  it('writes kept lines above the redrawn line, and erases the line when it stops', () => {
    const f = fixture(true);
    const progress = f.make({ total: undefined, unit: undefined, rateUnit: undefined, sample: () => ({ done: 0 }) });
    progress.phase('probing');
    progress.log('result 1');
    progress.stop();
    expect(f.written).toEqual(['\r\x1b[Ke2e probing', '\r\x1b[K', 'result 1\n']);
  });

  it('writes statuses as lines, with their prefix, and phases not at all, when not on a terminal', () => {
    const f = fixture(false);
    const progress = f.make({ plainPrefix: '[bench] ' });
    progress.status('raw probe');
    progress.phase('skein run');
    progress.log('[bench] result');
    progress.stop();
    expect(f.written).toEqual(['[bench] raw probe\n', '[bench] result\n']);
  });

  it('without a total shows the count and rate, and neither bar nor time left', () => {
    const f = fixture(true);
    const progress = f.make({ total: undefined, unit: 'acknowledged', sample: () => ({ done: 1500 }) });
    f.advance(1000, 0);
    progress.tick();
    expect(f.written).toEqual(['\r\x1b[Ke2e 1500 acknowledged  1500 msgs/s']);
  });

  it('counts hours in the time left', () => {
    const f = fixture(false);
    const progress = f.make({ total: 10_000 });
    f.advance(1000, 2);
    progress.tick();
    expect(f.written[0]).toMatch(/ETA 1:23:19\n$/);
  });
});
