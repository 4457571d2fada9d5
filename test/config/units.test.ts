import fc from 'fast-check';
import { parseDuration, parseSize, splitCommandLine } from '../../src/config/units';

describe('parseDuration', () => {
  test.each([
    [30, 30_000],
    [1.5, 1500],
    ['30', 30_000],
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1.5s', 1500],
    ['5M', 300_000],
    [' 10 s ', 10_000],
  ])('%p is %p ms', (input, ms) => {
    expect(parseDuration(input)).toEqual({ ok: true, value: ms });
  });

  test('0 is refused unless it means "off"', () => {
    expect(parseDuration(0)).toEqual({ ok: false, error: 'expected a duration above 0, got 0' });
    expect(parseDuration('0s', { zeroOff: true })).toEqual({ ok: true, value: 0 });
    expect(parseDuration(0, { zeroOff: true })).toEqual({ ok: true, value: 0 });
  });

  test.each([['abc'], ['-1'], [-1], ['5 minutes'], ['1d'], [true], [null], [[]], [Infinity], ['']])('%p is refused with the example', (input) => {
    const r = parseDuration(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/^expected a duration such as 30 or "5m", got /);
  });

  test('the message quotes what was written', () => {
    expect(parseDuration('abc')).toEqual({ ok: false, error: 'expected a duration such as 30 or "5m", got "abc"' });
  });

  test('every whole number of seconds is that many thousand ms', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 10_000_000 }), (n) => {
      const r = parseDuration(n);
      return r.ok && r.value === n * 1000;
    }));
  });
});

describe('parseSize', () => {
  test.each([
    [0, 0],
    [131072, 131072],
    ['131072', 131072],
    ['128K', 131072],
    ['128k', 131072],
    ['64KiB', 65536],
    ['64KB', 65536],
    ['64kib', 65536],
    ['1M', 1048576],
    ['1MiB', 1048576],
    ['1G', 1073741824],
    ['1g', 1073741824],
    ['2T', 2 * 1024 ** 4],
    ['1.5K', 1536],
    ['512B', 512],
  ])('%p is %p bytes', (input, bytes) => {
    expect(parseSize(input)).toEqual({ ok: true, value: bytes });
  });

  test.each([['abc'], ['1X'], [-1], [1.5], ['1 G B'], [false], [{}]])('%p is refused', (input) => {
    const r = parseSize(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/^expected a size such as 1048576 or "128K", got /);
  });

  test('K is 1024 whatever the spelling', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.constantFrom('K', 'k', 'KB', 'KiB', 'kib'), (n, unit) => {
      const r = parseSize(`${n}${unit}`);
      return r.ok && r.value === n * 1024;
    }));
  });
});

describe('splitCommandLine', () => {
  test.each([
    ['', []],
    ['-v', ['-v']],
    ['  -d  x=1  ', ['-d', 'x=1']],
    [`-c '/etc/my php.ini' -d "a=b c"`, ['-c', '/etc/my php.ini', '-d', 'a=b c']],
    [String.raw`"say \"hi\"" a\ b`, ['say "hi"', 'a b']],
    [`'it''s'`, ['its']],
    [`""`, ['']],
  ])('%p', (line, words) => {
    expect(splitCommandLine(line)).toEqual({ ok: true, value: words });
  });

  test('an unterminated quote is an error', () => {
    expect(splitCommandLine(`-c 'x`)).toEqual({ ok: false, error: `unterminated single quote in "-c 'x"` });
  });

  test('words without blanks or quotes come back as they were', () => {
    fc.assert(fc.property(fc.array(fc.stringMatching(/^[A-Za-z0-9=._/-]+$/), { maxLength: 8 }), (words) => {
      const r = splitCommandLine(words.join(' '));
      return r.ok && JSON.stringify(r.value) === JSON.stringify(words);
    }));
  });
});
