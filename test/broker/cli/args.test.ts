import { describe, expect, it } from 'vitest';
import { choiceFlag, intFlag, parseFlags, UsageError } from '../../../broker/cli/args.js';

const specs = { n: { type: 'string' as const, help: 'a number' }, mode: { type: 'string' as const, help: 'a choice' } };

describe('skein flag parsing', () => {
  it('takes integers at both ends of their range and refuses one past either, or a non-integer', () => {
    const at = (text: string): number | undefined => intFlag(parseFlags(['--n', text], specs), 'n', { min: 1, max: 10 });
    expect(at('1')).toBe(1);
    expect(at('10')).toBe(10);
    expect(() => at('0')).toThrow(/--n must be between 1 and 10, got 0/);
    expect(() => at('11')).toThrow(UsageError);
    expect(() => at('2.5')).toThrow(/--n must be an integer, got "2.5"/);
    expect(() => at('')).toThrow(/must be an integer/);
    expect(intFlag(parseFlags([], specs), 'n', { min: 1, max: 10 })).toBeUndefined();
  });

  it('takes one of the choices, the fallback when absent, and names the choices otherwise', () => {
    const choose = (argv: string[]): string => choiceFlag(parseFlags(argv, specs), 'mode', ['all', 'leader', 'none'] as const, 'all');
    expect(choose([])).toBe('all');
    expect(choose(['--mode', 'none'])).toBe('none');
    expect(() => choose(['--mode', 'ALL'])).toThrow(/--mode must be one of all, leader, none, got "ALL"/);
  });

  it('refuses unknown flags and stray positionals as usage errors naming them', () => {
    expect(() => parseFlags(['--bogus'], specs)).toThrow(/bogus/);
    expect(() => parseFlags(['stray'], specs)).toThrow(UsageError);
  });
});
