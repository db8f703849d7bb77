import { afterEach, describe, expect, it, vi } from 'vitest';
import { choiceFlag, helpText, intFlag, listFlag, numberFlag, parseFlags, UsageError, type FlagSpecs } from '../../../broker/cli/args.js';
import { closest, editDistance } from '../../../broker/cli/suggest.js';

const specs: FlagSpecs = {
  n: { type: 'string', help: 'a number' },
  mode: { type: 'string', help: 'a choice' },
  topic: { type: 'string', short: 't', value: 'NAME', help: 'a topic' },
  follow: { type: 'boolean', short: 'f', help: 'keep going' },
  verbose: { type: 'boolean', short: 'v', help: 'say more' },
  old: { type: 'string', hidden: true, help: 'a deprecated spelling' },
};

describe('skein flag parsing', () => {
  it('takes integers at both ends of their range and refuses one past either, or a non-integer', () => {
    const at = (text: string): number | undefined => intFlag(parseFlags(['--n', text], specs), 'n', { min: 1, max: 10 });
    expect(at('1')).toBe(1);
    expect(at('10')).toBe(10);
    expect(() => at('0')).toThrow(/^--n must be between 1 and 10, got "0"$/);
    expect(() => at('11')).toThrow(UsageError);
    expect(() => at('-1')).toThrow(/^--n must be between 1 and 10, got "-1"$/);
    expect(() => at('2.5')).toThrow(/^--n must be an integer, got "2.5"$/);
    expect(() => at('')).toThrow(/must be an integer/);
    expect(() => intFlag(parseFlags(['--n', '0'], specs), 'n', { min: 1, max: Number.MAX_SAFE_INTEGER })).toThrow(/^--n must be at least 1, got "0"$/);
    expect(intFlag(parseFlags([], specs), 'n', { min: 1, max: 10 })).toBeUndefined();
  });

  it('takes decimals and comma-separated lists', () => {
    expect(numberFlag(parseFlags(['--n', '0.25'], specs), 'n', { min: 0, max: 1 })).toBe(0.25);
    expect(numberFlag(parseFlags(['--n=-.5'], specs), 'n', { min: -1, max: 1 })).toBe(-0.5);
    expect(() => numberFlag(parseFlags(['--n', '1e'], specs), 'n', { min: 0, max: 1 })).toThrow(/^--n must be a number, got "1e"$/);
    expect(listFlag(parseFlags(['--n', '1, 2,3'], specs), 'n', Number, [])).toEqual([1, 2, 3]);
    expect(listFlag(parseFlags([], specs), 'n', Number, [9])).toEqual([9]);
    expect(() => listFlag(parseFlags(['--n', '1,,2'], specs), 'n', Number, [])).toThrow(/^--n is a comma-separated list, got "1,,2"$/);
  });

  it('takes one of the choices, the fallback when absent, and names the choices otherwise', () => {
    const choose = (argv: string[]): string => choiceFlag(parseFlags(argv, specs), 'mode', ['all', 'leader', 'none'] as const, 'all');
    expect(choose([])).toBe('all');
    expect(choose(['--mode', 'none'])).toBe('none');
    expect(() => choose(['--mode', 'ALL'])).toThrow(/--mode must be one of all, leader, none, got "ALL"/);
  });

  it('reads every spelling of a value', () => {
    const topic = (argv: string[]): unknown => parseFlags(argv, specs).values.topic;
    expect(topic(['--topic', 'a'])).toBe('a');
    expect(topic(['--topic=a=b'])).toBe('a=b');
    expect(topic(['-t', 'a'])).toBe('a');
    expect(topic(['-ta'])).toBe('a');
    expect(topic(['-t=a'])).toBe('a');
    expect(topic(['--topic=--odd'])).toBe('--odd');
    expect(topic(['--topic', '-'])).toBe('-');
    expect(parseFlags(['-fv'], specs).values).toEqual({ follow: true, verbose: true });
    expect(parseFlags(['-fvt', 'x'], specs).values).toEqual({ follow: true, verbose: true, topic: 'x' });
    expect(parseFlags(['a', '--', '--not-a-flag', '-t'], specs, { positionals: true }).positionals).toEqual(['a', '--not-a-flag', '-t']);
  });

  it('takes a number that starts with a dash as a value, for its flag to judge', () => {
    expect(parseFlags(['--n', '-5'], specs).values.n).toBe('-5');
    expect(parseFlags(['--n', '-0.5'], specs).values.n).toBe('-0.5');
    expect(() => parseFlags(['-5'], specs)).toThrow(/^unexpected argument "-5"$/);
  });

  it('refuses unknown flags, naming the one probably meant', () => {
    expect(() => parseFlags(['--topik', 'x'], specs)).toThrow(/^unknown flag --topik \(did you mean --topic\?\)$/);
    expect(() => parseFlags(['--verbsoe'], specs)).toThrow(/^unknown flag --verbsoe \(did you mean --verbose\?\)$/);
    expect(() => parseFlags(['-topic', 'x'], specs)).toThrow(/^unknown flag -topic \(did you mean --topic\?\)$/);
    expect(() => parseFlags(['-x'], specs)).toThrow(/^unknown flag -x$/);
    expect(() => parseFlags(['--bogus'], specs)).toThrow(/^unknown flag --bogus$/);
    // A hidden spelling is parsed but never suggested.
    expect(parseFlags(['--old', '1'], specs).values.old).toBe('1');
    expect(() => parseFlags(['--odl', '1'], specs)).toThrow(/^unknown flag --odl$/);
  });

  it('refuses missing, doubled and unexpected values', () => {
    expect(() => parseFlags(['--topic'], specs)).toThrow(/^--topic needs a value$/);
    expect(() => parseFlags(['-t'], specs)).toThrow(/^-t needs a value$/);
    expect(() => parseFlags(['--topic', '--follow'], specs)).toThrow(/^--topic needs a value, got the flag --follow \(write --topic=VALUE for a value starting with "-"\)$/);
    expect(() => parseFlags(['-t', 'a', '--topic', 'b'], specs)).toThrow(/^--topic is given more than once$/);
    expect(() => parseFlags(['--follow=yes'], specs)).toThrow(/^--follow takes no value$/);
    expect(() => parseFlags(['stray'], specs)).toThrow(/^unexpected argument "stray"$/);
  });

  it('answers --help or -h anywhere before --, whatever else is wrong', () => {
    expect(parseFlags(['--bogus', '-h'], specs).values.help).toBe(true);
    expect(parseFlags(['--topic', '--help'], specs).values.help).toBe(true);
    expect(() => parseFlags(['--bogus', '--', '-h'], specs, { positionals: true })).toThrow(/unknown flag --bogus/);
  });
});

describe('a renamed flag', () => {
  afterEach(() => vi.restoreAllMocks());
  const renamed: FlagSpecs = {
    ...specs,
    'count-max': { type: 'string', short: 'c', help: 'a limit' },
    'max-count': { type: 'string', renamedTo: 'count-max', help: 'the old name of --count-max' },
  };

  function parsedWithNotices(argv: string[]): { values: unknown; notices: string[] } {
    const notices: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((text) => notices.push(String(text)) > 0);
    const values = parseFlags(argv, renamed).values;
    vi.restoreAllMocks();
    return { values, notices };
  }

  it('reads the old name as the new one and says so on stderr, once, only when the old name is used', () => {
    const notice = 'skein: the flag --max-count is now --count-max; the old name works until the next release\n';
    expect(parsedWithNotices(['--max-count', '3'])).toEqual({ values: { 'count-max': '3' }, notices: [notice] });
    expect(parsedWithNotices(['--max-count=3', '-f'])).toEqual({ values: { 'count-max': '3', follow: true }, notices: [notice] });
    expect(parsedWithNotices(['--count-max', '3'])).toEqual({ values: { 'count-max': '3' }, notices: [] });
    expect(parsedWithNotices(['-c3'])).toEqual({ values: { 'count-max': '3' }, notices: [] });
  });

  it('refuses both names together, in either order, and the old name twice', () => {
    expect(() => parsedWithNotices(['--max-count', '3', '--count-max', '4'])).toThrow(/^--max-count is the old name of --count-max; give --count-max only$/);
    expect(() => parsedWithNotices(['-c', '4', '--max-count', '3'])).toThrow(/^--max-count is the old name of --count-max; give --count-max only$/);
    expect(() => parsedWithNotices(['--max-count', '3', '--max-count', '4'])).toThrow(/^--max-count is given more than once$/);
  });

  it('is left out of help and suggestions', () => {
    expect(helpText('u', 's', renamed)).toContain('--count-max');
    expect(helpText('u', 's', renamed)).not.toContain('max-count');
    expect(() => parseFlags(['--max-cuont', '1'], renamed)).toThrow(/^unknown flag --max-cuont$/);
  });
});

describe('help layout', () => {
  it('aligns every description after the longest flag and leaves hidden flags out', () => {
    const text = helpText('skein x [flags]', 'Does x.', specs);
    const rows = text.split('flags:\n')[1]!.trimEnd().split('\n');
    expect(rows).toEqual([
      '      --n VALUE     a number',
      '      --mode VALUE  a choice',
      '  -t, --topic NAME  a topic',
      '  -f, --follow      keep going',
      '  -v, --verbose     say more',
      '  -h, --help        show this help',
    ]);
    expect(helpText('u', 's', { a: { type: 'string', value: 'N', help: 'h', default: '3' } })).toContain('      --a N   h (default: 3)\n');
  });
});

describe('did you mean', () => {
  it('counts insertions, deletions, substitutions and swapped neighbours', () => {
    expect(editDistance('topic', 'topic')).toBe(0);
    expect(editDistance('topik', 'topic')).toBe(1);
    expect(editDistance('prodcue', 'produce')).toBe(1);
    expect(editDistance('partiton', 'partitions')).toBe(2);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('suggests only what is close enough to be a typo', () => {
    expect(closest('lst', ['create', 'describe', 'list', 'delete'])).toBe('list');
    expect(closest('Topic', ['topic'])).toBe('topic');
    expect(closest('frobnicate', ['broker', 'dev', 'topic', 'produce', 'consume', 'bench'])).toBeUndefined();
    expect(closest('ab', ['cd'])).toBeUndefined();
  });
});
