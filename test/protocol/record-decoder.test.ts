import { InvalidArgumentError, ProtocolError } from '../../src/errors';
import { RecordType, Role } from '../../src/protocol/constants';
import {
  encodeBeginRequest,
  encodeEndRequest,
  encodeParams,
  encodeStream,
  encodeStreamEnd,
} from '../../src/protocol/encoder';
import { encodePairs } from '../../src/protocol/name-value';
import { RecordDecoder, type FcgiRecord } from '../../src/protocol/record-decoder';
import { byteByByte, cutAt, decodeChunks, randomChunks, rawRecord, transcript } from './support';

const PAIRS: Array<[string, string]> = [
  ['SCRIPT_FILENAME', '/srv/www/index.php'],
  ['REQUEST_METHOD', 'POST'],
  ['HTTP_X_LONG', 'L'.repeat(300)],
  ['QUERY_STRING', ''],
  ['H'.repeat(130), 'four-byte name'],
];

/**
 * A whole exchange in one byte stream: BEGIN, PARAMS cut mid-pair into three records with
 * odd paddings, the empty PARAMS padded, STDIN, STDOUT, STDERR, a management record, an
 * unknown type, END_REQUEST — records hand-built where the padding is unusual.
 */
function smallExchange(): Buffer {
  const params = encodePairs(PAIRS);
  return Buffer.concat([
    encodeBeginRequest(1, Role.RESPONDER, true),
    rawRecord({ type: RecordType.PARAMS, requestId: 1, content: params.subarray(0, 20), padding: 3 }),
    rawRecord({ type: RecordType.PARAMS, requestId: 1, content: params.subarray(20, 200), padding: 0 }),
    rawRecord({ type: RecordType.PARAMS, requestId: 1, content: params.subarray(200), padding: 255 }),
    rawRecord({ type: RecordType.PARAMS, requestId: 1, padding: 5 }),
    encodeStream(RecordType.STDIN, 1, Buffer.from('name=value&x=1')),
    rawRecord({ type: RecordType.STDIN, requestId: 1, content: 'more', padding: 1 }),
    encodeStreamEnd(RecordType.STDIN, 1),
    rawRecord({ type: RecordType.GET_VALUES_RESULT, requestId: 0, content: encodePairs([['FCGI_MAX_CONNS', '1']]) }),
    encodeStream(RecordType.STDOUT, 1, Buffer.from('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nhello')),
    rawRecord({ type: RecordType.STDERR, requestId: 1, content: 'PHP Notice: x', padding: 7 }),
    rawRecord({ type: 12, requestId: 0, content: Buffer.from([1, 2, 3]), padding: 2 }),
    encodeStreamEnd(RecordType.STDERR, 1),
    encodeStreamEnd(RecordType.STDOUT, 1),
    encodeEndRequest(1, 0, 0),
  ]);
}

function largeExchange(): Buffer {
  const body = Buffer.alloc(200000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7 + (i >> 9)) & 0xff;
  return Buffer.concat([
    encodeBeginRequest(7, Role.RESPONDER, false),
    encodeParams(7, [...PAIRS, ['HTTP_X_HUGE', 'h'.repeat(70000)]]),
    encodeStream(RecordType.STDIN, 7, body),
    encodeStreamEnd(RecordType.STDIN, 7),
    encodeStream(RecordType.STDOUT, 7, body.subarray(1000, 151000)),
    encodeStream(RecordType.STDERR, 7, Buffer.from('warning\n')),
    encodeStreamEnd(RecordType.STDOUT, 7),
    encodeEndRequest(7, 3, 0),
  ]);
}

describe('RecordDecoder', () => {
  describe('a whole exchange', () => {
    const small = smallExchange();
    const reference = transcript([small]);

    it('decodes to the expected records', () => {
      expect(reference.error).toBeUndefined();
      expect(reference.records).toEqual([
        '1/1/8',
        '4/1/20',
        '4/1/180',
        `4/1/${encodePairs(PAIRS).length - 200}`,
        '4/1/0',
        '5/1/14',
        '5/1/4',
        '5/1/0',
        '10/0/17',
        '6/1/49',
        '7/1/13',
        '12/0/3',
        '7/1/0',
        '6/1/0',
        '3/1/8',
      ]);
      expect(reference.params).toEqual(PAIRS);
      expect(Buffer.from(reference.streams[RecordType.STDIN]!, 'hex').toString()).toBe('name=value&x=1more');
      expect(reference.streams['12']).toBe('010203');
    });

    it('gives the same records when cut in two at every byte offset', () => {
      for (let i = 0; i <= small.length; i++) {
        const got = transcript(cutAt(small, [i]));
        if (JSON.stringify(got) !== JSON.stringify(reference)) {
          expect({ cut: i, got }).toEqual({ cut: i, got: reference });
        }
      }
    });

    it('gives the same records when cut in three at every pair of offsets near record edges', () => {
      const edges = [0, 8, 16, 24, 44, 47, 55, 235, 243];
      for (const a of edges) {
        for (let b = a; b <= small.length; b += 3) {
          expect(transcript(cutAt(small, [a, b]))).toEqual(reference);
        }
      }
    });

    it('gives the same records fed byte by byte', () => {
      expect(transcript(byteByByte(small))).toEqual(reference);
    });

    it('gives the same records for 300 seeded random chunkings', () => {
      for (let seed = 1; seed <= 300; seed++) {
        const got = transcript(randomChunks(small, seed, 1 + (seed % 64)));
        if (JSON.stringify(got) !== JSON.stringify(reference)) expect({ seed, got }).toEqual({ seed, got: reference });
      }
    });
  });

  describe('a large exchange (70 000-byte param, 200 KB STDIN)', () => {
    const large = largeExchange();
    const reference = transcript([large]);

    it('decodes whole', () => {
      expect(reference.error).toBeUndefined();
      expect(reference.params?.[5]?.[1]).toHaveLength(70000);
      expect(reference.streams[RecordType.STDIN]).toHaveLength(400000);
      // Pairs: 35 + 20 + 316 + 14 + 149 + 70016 = 70550 bytes = 65535 + 5015.
      expect(reference.records.filter((r) => r.startsWith('4/'))).toEqual(['4/7/65535', '4/7/5015', '4/7/0']);
    });

    it('gives the same records for seeded random chunkings, small and socket-sized', () => {
      for (let seed = 1; seed <= 40; seed++) {
        const max = seed % 2 === 0 ? 65536 : 1 + seed * 37;
        expect({ seed, got: transcript(randomChunks(large, seed, max)) }).toEqual({ seed, got: reference });
      }
    });

    it('gives the same records fed byte by byte', () => {
      expect(transcript(byteByByte(large))).toEqual(reference);
    });

    it('gives the same records cut in two around every record boundary', () => {
      const boundaries: number[] = [];
      const d = new RecordDecoder(() => undefined);
      let pos = 0;
      // Find record ends by feeding a byte at a time and watching midRecord drop.
      for (; pos < large.length; pos++) {
        d.push(large.subarray(pos, pos + 1));
        if (!d.midRecord) boundaries.push(pos + 1);
      }
      for (const b of boundaries) {
        for (let delta = -9; delta <= 9; delta++) {
          expect(transcript(cutAt(large, [b + delta]))).toEqual(reference);
        }
      }
    });
  });

  describe('padding', () => {
    it.each([0, 1, 7, 8, 100, 254, 255])('skips %i padding bytes, on empty and non-empty records', (padding) => {
      const stream = Buffer.concat([
        rawRecord({ type: 6, requestId: 1, content: 'abc', padding, paddingByte: 1 }),
        rawRecord({ type: 6, requestId: 1, padding, paddingByte: 1 }),
        rawRecord({ type: 3, requestId: 1, content: Buffer.alloc(8), padding }),
      ]);
      const expected = [
        { type: 6, requestId: 1, content: Buffer.from('abc') },
        { type: 6, requestId: 1, content: Buffer.alloc(0) },
        { type: 3, requestId: 1, content: Buffer.alloc(8) },
      ];
      expect(decodeChunks([stream]).records).toEqual(expected);
      expect(decodeChunks(byteByByte(stream)).records).toEqual(expected);
      for (let i = 0; i <= stream.length; i++) expect(decodeChunks(cutAt(stream, [i])).records).toEqual(expected);
    });

    it('does not emit a record until its padding has arrived', () => {
      const seen: FcgiRecord[] = [];
      const d = new RecordDecoder((r) => seen.push(r));
      const rec = rawRecord({ type: 6, requestId: 1, content: 'abc', padding: 4 });
      d.push(rec.subarray(0, 13));
      expect(seen).toHaveLength(0);
      expect(d.midRecord).toBe(true);
      expect(d.bufferedBytes).toBe(13);
      d.push(rec.subarray(13));
      expect(seen).toHaveLength(1);
      expect(d.midRecord).toBe(false);
      expect(d.bufferedBytes).toBe(0);
    });
  });

  describe('buffering and views', () => {
    it('hands out views of the chunk for records that lie in it', () => {
      const chunk = Buffer.concat([encodeStream(6, 1, Buffer.from('hello world')), encodeStreamEnd(6, 1)]);
      const seen: FcgiRecord[] = [];
      new RecordDecoder((r) => seen.push(r)).push(chunk);
      expect(seen[0]!.content.buffer).toBe(chunk.buffer);
      expect(seen[0]!.content.byteOffset).toBe(chunk.byteOffset + 8);
    });

    it('views the second chunk when only the header came in the first', () => {
      const rec = encodeStream(6, 1, Buffer.from('0123456789'));
      const second = Buffer.from(rec.subarray(8));
      const seen: FcgiRecord[] = [];
      const d = new RecordDecoder((r) => seen.push(r));
      d.push(rec.subarray(0, 8));
      expect(d.bufferedBytes).toBe(8);
      d.push(second);
      expect(seen[0]!.content.toString()).toBe('0123456789');
      expect(seen[0]!.content.buffer).toBe(second.buffer);
    });

    it('assembles a straddling record into its own buffer', () => {
      const rec = encodeStream(6, 1, Buffer.from('0123456789'));
      const seen: FcgiRecord[] = [];
      const d = new RecordDecoder((r) => seen.push(r));
      d.push(rec.subarray(0, 12));
      expect(d.midRecord).toBe(true);
      expect(d.bufferedBytes).toBe(12);
      d.push(rec.subarray(12));
      rec.fill(0);
      expect(seen[0]!.content.toString()).toBe('0123456789');
    });

    it('reports midRecord for a partial header, content or padding; not between records', () => {
      const d = new RecordDecoder(() => undefined);
      expect(d.midRecord).toBe(false);
      d.push(Buffer.from([1, 6, 0]));
      expect(d.midRecord).toBe(true);
      expect(d.bufferedBytes).toBe(3);
      d.push(Buffer.from([1, 0, 2, 3, 0, 0x41]));
      expect(d.bufferedBytes).toBe(9);
      d.push(Buffer.from([0x42, 0]));
      expect(d.midRecord).toBe(true);
      d.push(Buffer.from([0, 0]));
      expect(d.midRecord).toBe(false);
      expect(d.push(Buffer.alloc(0))).toBeUndefined();
      expect(d.midRecord).toBe(false);
    });
  });

  describe('malformed input', () => {
    it.each([0, 2, 0x48, 255])('fails on version %i without throwing', (version) => {
      const bad = rawRecord({ type: 6, requestId: 1, content: 'x', version });
      let err: ProtocolError | undefined;
      const d = new RecordDecoder(() => {
        throw new Error('no record expected');
      });
      expect(() => {
        err = d.push(bad);
      }).not.toThrow();
      expect(err).toBeInstanceOf(ProtocolError);
      expect(err?.code).toBe('FCGIPM_ERR_PROTOCOL');
      expect(err?.message).toBe(`FastCGI record with version ${version}, expected 1 (spec §3.3)`);
      expect(d.failed).toBe(err);
    });

    it('delivers the records before a bad one, then fails, at every cut', () => {
      const stream = Buffer.concat([
        encodeStream(6, 1, Buffer.from('good')),
        rawRecord({ type: 6, requestId: 1, content: 'bad', version: 2 }),
        encodeStream(6, 1, Buffer.from('never')),
      ]);
      for (let i = 0; i <= stream.length; i++) {
        const out = decodeChunks(cutAt(stream, [i]));
        expect(out.records).toEqual([{ type: 6, requestId: 1, content: Buffer.from('good') }]);
        expect(out.error?.message).toMatch(/version 2/);
      }
      expect(decodeChunks(byteByByte(stream)).error?.message).toMatch(/version 2/);
    });

    it('a failed decoder holds nothing, whether the bad header came whole or split (found by fuzz-decoder)', () => {
      // The shrunk counterexample: a version-0 header whose first byte came alone reported
      // midRecord and 8 bytes held; the same bytes in one chunk reported neither.
      const bad = rawRecord({ type: 0, requestId: 244, content: Buffer.alloc(120), version: 0 });
      for (let i = 0; i <= 8; i++) {
        const d = new RecordDecoder(() => undefined);
        const err = d.push(bad.subarray(0, i)) ?? d.push(bad.subarray(i));
        expect(err?.message).toBe('FastCGI record with version 0, expected 1 (spec §3.3)');
        expect(d.midRecord).toBe(false);
        expect(d.bufferedBytes).toBe(0);
      }
    });

    it('stays failed: later pushes return the same error and decode nothing', () => {
      let n = 0;
      const d = new RecordDecoder(() => n++);
      const err = d.push(Buffer.from('HTTP/1.1 200 OK\r\n'));
      expect(err).toBeInstanceOf(ProtocolError);
      expect(d.push(encodeStreamEnd(6, 1))).toBe(err);
      expect(d.push(Buffer.alloc(0))).toBe(err);
      expect(d.failed).toBe(err);
      expect(n).toBe(0);
    });

    it('a truncated pair inside PARAMS is a ProtocolError from the collector, at every cut', () => {
      const params = encodePairs([['NAME', 'value']]);
      const stream = Buffer.concat([
        encodeBeginRequest(1, 1, false),
        rawRecord({ type: RecordType.PARAMS, requestId: 1, content: params.subarray(0, params.length - 2) }),
        encodeStreamEnd(RecordType.PARAMS, 1),
      ]);
      for (let i = 0; i <= stream.length; i++) {
        const got = transcript(cutAt(stream, [i]));
        expect(got.params).toBeUndefined();
        expect(got.error).toMatch(/truncated name-value pair: a pair of 4\+5 bytes at byte 0/);
      }
    });

    it('a pair length overflowing the stream is a ProtocolError', () => {
      const content = Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 0x41, 0x42]);
      const stream = Buffer.concat([
        rawRecord({ type: RecordType.PARAMS, requestId: 1, content }),
        encodeStreamEnd(RecordType.PARAMS, 1),
      ]);
      expect(transcript([stream]).error).toMatch(/a pair of 2147483647\+1 bytes/);
      expect(transcript(byteByByte(stream)).error).toMatch(/a pair of 2147483647\+1 bytes/);
    });

    it('never throws on random garbage', () => {
      for (let seed = 1; seed <= 200; seed++) {
        const junk = Buffer.from(randomChunks(Buffer.alloc(2000), seed, 50).map((c) => c.length & 0xff));
        // Make a valid-looking header first half the time so the decoder gets past byte 0.
        if (seed % 2 === 0) junk[0] = 1;
        expect(() => decodeChunks(randomChunks(junk, seed, 300))).not.toThrow();
      }
    });
  });

  describe('maxBufferedBytes', () => {
    it('rejects a record larger than the limit however it is chunked', () => {
      const stream = Buffer.concat([encodeStream(6, 1, Buffer.alloc(100)), encodeStream(6, 1, Buffer.alloc(300))]);
      for (const chunks of [[stream], byteByByte(stream), cutAt(stream, [120]), cutAt(stream, [200])]) {
        const out = decodeChunks(chunks, 200);
        expect(out.records).toHaveLength(1);
        expect(out.error?.message).toBe('FastCGI record of 312 bytes exceeds maxBufferedBytes 200');
      }
    });

    it('accepts a record exactly at the limit', () => {
      const stream = encodeStream(6, 1, Buffer.alloc(100, 1));
      expect(stream.length).toBe(112);
      expect(decodeChunks(byteByByte(stream), 112).records).toHaveLength(1);
      expect(decodeChunks([stream], 111).error).toBeInstanceOf(ProtocolError);
    });

    it('throws InvalidArgumentError for a bad option', () => {
      expect(() => new RecordDecoder(() => undefined, { maxBufferedBytes: 7 })).toThrow(InvalidArgumentError);
      expect(() => new RecordDecoder(() => undefined, { maxBufferedBytes: 1.5 })).toThrow(/maxBufferedBytes/);
    });
  });

  describe('a throwing callback', () => {
    it('propagates the exception unchanged and stops the decoder', () => {
      const boom = new Error('caller bug');
      const d = new RecordDecoder(() => {
        throw boom;
      });
      expect(() => d.push(encodeStreamEnd(6, 1))).toThrow(boom);
      expect(d.failed).toBeInstanceOf(ProtocolError);
      expect(d.push(encodeStreamEnd(6, 1))).toBe(d.failed);
    });

    it('also from a record assembled across chunks', () => {
      const boom = new Error('caller bug');
      const d = new RecordDecoder(() => {
        throw boom;
      });
      const rec = encodeStream(6, 1, Buffer.from('abc'));
      expect(d.push(rec.subarray(0, 5))).toBeUndefined();
      expect(() => d.push(rec.subarray(5))).toThrow(boom);
      expect(d.failed?.message).toMatch(/callback threw/);
    });
  });
});

describe('RecordDecoder with streamFragments', () => {
  /** Records as a proxy sees them: stream pieces merged back per (type, id) until the empty record. */
  function decodeFragments(chunks: Buffer[]): { records: FcgiRecord[]; pieces: number } {
    const records: FcgiRecord[] = [];
    const decoder = new RecordDecoder((r) => records.push({ ...r, content: Buffer.from(r.content) }), { streamFragments: true });
    for (const c of chunks) expect(decoder.push(c)).toBeUndefined();
    expect(decoder.midRecord).toBe(false);
    return { records, pieces: records.length };
  }

  function streams(records: Array<{ type: number; requestId: number; content: Buffer }>): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    for (const r of records) {
      const key = `${r.type}/${r.requestId}`;
      out.set(key, Buffer.concat([out.get(key) ?? Buffer.alloc(0), r.content]));
    }
    return out;
  }

  test.each([
    ['whole', (b: Buffer) => [b]],
    ['byte by byte', (b: Buffer) => (b.length < 10_000 ? byteByByte(b) : randomChunks(b, 3, 50))],
    ['random cuts', (b: Buffer) => randomChunks(b, 7, 70000)],
    ['small random cuts', (b: Buffer) => randomChunks(b, 11, 300)],
  ])('%s: every stream carries the same bytes, discrete records stay whole, no piece is empty', (_name, cut) => {
    for (const exchange of [smallExchange(), largeExchange()]) {
      const whole = decodeChunks([exchange]).records;
      const { records } = decodeFragments(cut(exchange));
      expect(records.filter((r) => r.content.length === 0).map((r) => r.type)).toEqual(
        whole.filter((r) => r.content.length === 0).map((r) => r.type),
      );
      const stream = (t: number): boolean => [RecordType.PARAMS, RecordType.STDIN, RecordType.STDOUT, RecordType.STDERR, RecordType.DATA].includes(t as 4);
      expect(records.filter((r) => !stream(r.type))).toEqual(whole.filter((r) => !stream(r.type)));
      const a = streams(records.filter((r) => stream(r.type)));
      const b = streams(whole.filter((r) => stream(r.type)));
      expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
      for (const [k, v] of b) expect(a.get(k)!.equals(v)).toBe(true);
    }
  });

  test('a STDOUT record split across two chunks arrives as two views, not one copy', () => {
    const rec = encodeStream(RecordType.STDOUT, 1, Buffer.alloc(1000, 0x61));
    const [a, b] = cutAt(rec, [500]);
    const seen: Buffer[] = [];
    const decoder = new RecordDecoder((r) => seen.push(r.content), { streamFragments: true });
    decoder.push(a!);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.buffer).toBe(a!.buffer);
    decoder.push(b!);
    expect(seen.map((s) => s.length)).toEqual([492, 508]);
    expect(seen[1]!.buffer).toBe(b!.buffer);
  });
});
