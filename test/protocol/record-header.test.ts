import { InvalidArgumentError } from '../../src/errors';
import { FCGI_HEADER_LEN, FCGI_MAX_RECORD_LENGTH } from '../../src/protocol/constants';
import { alignedPadding, readHeader, writeHeader } from '../../src/protocol/record-header';

describe('record header (spec §3.3)', () => {
  it('writes the eight bytes big-endian with version 1 and a zero reserved byte', () => {
    const buf = Buffer.alloc(12, 0xee);
    expect(writeHeader(buf, 2, 6, 0x1234, 0xabcd, 0xfe)).toBe(10);
    expect([...buf]).toEqual([0xee, 0xee, 1, 6, 0x12, 0x34, 0xab, 0xcd, 0xfe, 0, 0xee, 0xee]);
  });

  it('reads back what it wrote, at any offset', () => {
    const buf = Buffer.alloc(20);
    for (const [type, id, len, pad] of [
      [1, 0, 0, 0],
      [11, 1, 8, 0],
      [255, 65535, 65535, 255],
      [6, 256, 255, 1],
    ] as const) {
      writeHeader(buf, 5, type, id, len, pad);
      expect(readHeader(buf, 5)).toEqual({ version: 1, type, requestId: id, contentLength: len, paddingLength: pad });
    }
  });

  it('reports the version byte as it is, without judging it', () => {
    expect(readHeader(Buffer.from([7, 1, 0, 1, 0, 0, 0, 0]), 0).version).toBe(7);
  });

  it('throws RangeError when fewer than 8 bytes remain', () => {
    expect(() => readHeader(Buffer.alloc(7), 0)).toThrow(RangeError);
  });

  it.each([
    ['type', [256, 1, 0, 0]],
    ['requestId', [1, 65536, 0, 0]],
    ['requestId', [1, -1, 0, 0]],
    ['contentLength', [1, 1, 65536, 0]],
    ['paddingLength', [1, 1, 0, 256]],
    ['type', [1.5, 1, 0, 0]],
  ] as const)('rejects a %s that does not fit its bytes', (field, [t, id, len, pad]) => {
    expect(() => writeHeader(Buffer.alloc(8), 0, t, id, len, pad)).toThrow(InvalidArgumentError);
    expect(() => writeHeader(Buffer.alloc(8), 0, t, id, len, pad)).toThrow(field);
  });

  it('pads every content length to a multiple of 8', () => {
    for (let len = 0; len <= 65535; len++) {
      const pad = alignedPadding(len);
      if (pad < 0 || pad > 7 || (FCGI_HEADER_LEN + len + pad) % 8 !== 0) throw new Error(`bad padding for ${len}`);
    }
    expect(alignedPadding(65535)).toBe(1);
    expect(FCGI_MAX_RECORD_LENGTH).toBe(65798);
  });
});
