import { ProtocolError } from '../../src/errors';
import { decodePairs, encodePairs, measurePairs } from '../../src/protocol/name-value';

const repeat = (n: number, ch = 'x'): string => ch.repeat(n);

describe('name-value pairs (spec §3.4)', () => {
  it('encodes short lengths in one byte', () => {
    expect([...encodePairs([['AB', 'xyz']])]).toEqual([2, 3, 0x41, 0x42, 0x78, 0x79, 0x7a]);
  });

  it('encodes lengths above 127 in four bytes with the top bit set', () => {
    const buf = encodePairs([[repeat(128), repeat(0x01020304 & 0xff)]]);
    expect([...buf.subarray(0, 5)]).toEqual([0x80, 0, 0, 128, 4]);
    const big = encodePairs([['N', repeat(70000)]]);
    expect([...big.subarray(0, 5)]).toEqual([1, 0x80, 0x01, 0x11, 0x70]);
    expect(big.length).toBe(1 + 4 + 1 + 70000);
  });

  it.each([
    ['1-byte name, 1-byte value', 127, 127],
    ['1-byte name, 4-byte value', 127, 128],
    ['4-byte name, 1-byte value', 128, 127],
    ['4-byte name, 4-byte value', 128, 128],
    ['empty name and value', 0, 0],
    ['4-byte name, 70 000-byte value', 300, 70000],
  ])('round-trips %s', (_label, nameLen, valueLen) => {
    const pairs: Array<[string, string]> = [
      [repeat(nameLen, 'n'), repeat(valueLen, 'v')],
      ['SHORT', 'ok'],
    ];
    const buf = encodePairs(pairs);
    expect(buf.length).toBe(measurePairs(pairs).byteLength);
    const expectedLen = (nameLen > 127 ? 4 : 1) + (valueLen > 127 ? 4 : 1) + nameLen + valueLen + 2 + 5 + 2;
    expect(buf.length).toBe(expectedLen);
    expect(decodePairs(buf)).toEqual(pairs);
  });

  it('keeps repeated names, order and odd names (no object semantics)', () => {
    const pairs: Array<[string, string]> = [
      ['__proto__', 'a'],
      ['X', '1'],
      ['X', '2'],
      ['constructor', ''],
    ];
    expect(decodePairs(encodePairs(pairs))).toEqual(pairs);
  });

  it('passes every byte value through unchanged (latin1 byte strings)', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const raw = Buffer.concat([Buffer.from([4, 0x80, 0, 1, 0]), Buffer.from('PATH'), all]);
    const decoded = decodePairs(raw);
    expect(decoded).toEqual([['PATH', all.toString('latin1')]]);
    expect(encodePairs(decoded).equals(raw)).toBe(true);
  });

  it('writes a string with chars above U+00FF as UTF-8 instead of truncating them', () => {
    const buf = encodePairs([['DOCUMENT_ROOT', '/srv/€']]);
    expect(buf.subarray(2 + 13)).toEqual(Buffer.from('/srv/€', 'utf8'));
    expect(buf[1]).toBe(8);
    // Decoding gives the byte string, which the caller turns back into text if it wants.
    const [[, value]] = decodePairs(buf) as [[string, string]];
    expect(Buffer.from(value, 'latin1').toString('utf8')).toBe('/srv/€');
  });

  it('accepts a one-shot iterable', () => {
    function* gen(): Generator<[string, string]> {
      yield ['A', '1'];
      yield ['B', '2'];
    }
    expect(decodePairs(encodePairs(gen()))).toEqual([
      ['A', '1'],
      ['B', '2'],
    ]);
  });

  it('decodes an empty buffer as no pairs', () => {
    expect(decodePairs(Buffer.alloc(0))).toEqual([]);
    expect(encodePairs([]).length).toBe(0);
  });

  describe('truncated input throws ProtocolError', () => {
    const good = encodePairs([
      ['NAME', 'value'],
      [repeat(200), repeat(300)],
    ]);
    it('at every cut of a valid pair stream', () => {
      const firstPair = 2 + 4 + 5;
      for (let cut = 1; cut < good.length; cut++) {
        if (cut === firstPair) {
          expect(decodePairs(good.subarray(0, cut))).toEqual([['NAME', 'value']]);
          continue;
        }
        expect(() => decodePairs(good.subarray(0, cut))).toThrow(ProtocolError);
      }
    });
    it('names what was cut', () => {
      expect(() => decodePairs(Buffer.from([0x80, 0, 0]))).toThrow('a 4-byte name length at byte 0');
      expect(() => decodePairs(Buffer.from([1]))).toThrow('the value length at byte 0');
      expect(() => decodePairs(Buffer.from([1, 0x80, 0]))).toThrow('a 4-byte value length at byte 0');
      expect(() => decodePairs(Buffer.from([3, 1, 0x41]))).toThrow('a pair of 3+1 bytes at byte 0');
    });
    it('when a 4-byte length claims far more than there is', () => {
      expect(() => decodePairs(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f, 0x41]))).toThrow('a pair of 2147483647+127 bytes');
    });
  });
});
