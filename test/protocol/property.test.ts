import fc from 'fast-check';
import { RecordType } from '../../src/protocol/constants';
import { CgiHeaderParser, type CgiParseResult } from '../../src/protocol/cgi-response';
import { encodeParams, encodeStream, encodeStreamEnd } from '../../src/protocol/encoder';
import { decodePairs, encodePairs } from '../../src/protocol/name-value';
import { cutAt, decodeChunks, rawRecord, transcript } from './support';

/** Strings of any bytes (latin1), lengths crossing the 127/128 boundary now and then. */
const byteString = (maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength });
const pairArb = fc.tuple(
  fc.oneof(byteString(20), byteString(300)),
  fc.oneof(byteString(20), byteString(300), fc.constant('v'.repeat(128)), fc.constant('v'.repeat(127))),
);

const recordArb = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  requestId: fc.integer({ min: 0, max: 65535 }),
  content: fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    fc.uint8Array({ minLength: 1000, maxLength: 5000 }),
  ),
  padding: fc.integer({ min: 0, max: 255 }),
});

/** Cut points as fractions of the stream length, so they scale with whatever was generated. */
const cutsArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });

describe('properties', () => {
  it('any records, padded any way, chunked any way, decode to themselves', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 12 }), cutsArb, (records, cuts) => {
        const stream = Buffer.concat(
          records.map((r) => rawRecord({ ...r, content: Buffer.from(r.content), paddingByte: 0xee })),
        );
        const out = decodeChunks(cutAt(stream, cuts.map((c) => Math.floor(c * stream.length))));
        expect(out.error).toBeUndefined();
        expect(out.midRecord).toBe(false);
        expect(out.records).toEqual(
          records.map((r) => ({ type: r.type, requestId: r.requestId, content: Buffer.from(r.content) })),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('a stream cut short leaves the decoder midRecord, with what arrived buffered', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 6 }), fc.double({ min: 0, max: 1, noNaN: true }), (records, f) => {
        const parts = records.map((r) => rawRecord({ ...r, content: Buffer.from(r.content) }));
        const stream = Buffer.concat(parts);
        const cut = Math.floor(f * stream.length);
        const out = decodeChunks([stream.subarray(0, cut)]);
        let boundary = 0;
        let whole = 0;
        for (const p of parts) {
          if (boundary + p.length > cut) break;
          boundary += p.length;
          whole++;
        }
        expect(out.records).toHaveLength(whole);
        expect(out.midRecord).toBe(cut !== boundary);
        expect(out.bufferedBytes).toBe(cut - boundary);
      }),
    );
  });

  it('random bytes never make the decoder throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), cutsArb, (bytes, versionOne, cuts) => {
        const buf = Buffer.from(bytes);
        if (versionOne && buf.length > 0) buf[0] = 1;
        expect(() => transcript(cutAt(buf, cuts.map((c) => Math.floor(c * buf.length))))).not.toThrow();
      }),
      { numRuns: 500 },
    );
  });

  it('any pairs encode and decode to themselves', () => {
    fc.assert(
      fc.property(fc.array(pairArb, { maxLength: 20 }), (pairs) => {
        expect(decodePairs(encodePairs(pairs))).toEqual(pairs);
      }),
      { numRuns: 300 },
    );
  });

  it('any pairs sent as PARAMS and chunked any way reassemble to themselves', () => {
    fc.assert(
      fc.property(fc.array(pairArb, { maxLength: 10 }), fc.boolean(), cutsArb, (pairs, huge, cuts) => {
        const all: Array<[string, string]> = huge ? [...pairs, ['HUGE', 'x'.repeat(66000)]] : pairs;
        const stream = Buffer.concat([
          encodeParams(1, all),
          encodeStream(RecordType.STDIN, 1, Buffer.from('body')),
          encodeStreamEnd(RecordType.STDIN, 1),
        ]);
        const got = transcript(cutAt(stream, cuts.map((c) => Math.floor(c * stream.length))));
        expect(got.error).toBeUndefined();
        expect(got.params).toEqual(all);
      }),
      { numRuns: 150 },
    );
  });

  describe('CGI header blocks', () => {
    const tchar = fc.constantFrom(...'!#$%&\'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'.split(''));
    const name = fc
      .string({ unit: tchar, minLength: 1, maxLength: 20 })
      .filter((n) => !['status'].includes(n.toLowerCase()));
    const vchar = fc.integer({ min: 0x21, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c));
    // Values as the parser returns them: no surrounding SP/HT, inner SP/HT allowed.
    const value = fc.oneof(
      fc.constant(''),
      fc
        .tuple(vchar, fc.string({ unit: fc.oneof(vchar, fc.constantFrom(' ', '\t')), maxLength: 30 }), vchar)
        .map(([a, b, c]) => `${a}${b}${c}`),
    );
    const eol = fc.constantFrom('\n', '\r\n');
    const header = fc.record({ name, value, eol, pad: fc.constantFrom('', ' ', '  \t') });
    // A final status: 1xx is refused (a CGI response cannot be informational; cgi-response.test.ts).
    const status = fc.option(
      fc.record({ code: fc.integer({ min: 200, max: 999 }), reason: fc.option(fc.constantFrom('OK', 'Not Found', 'Moved Permanently'), { nil: undefined }) }),
      { nil: undefined },
    );

    it('parse the same however they are cut, and as written', () => {
      fc.assert(
        fc.property(
          fc.array(header, { maxLength: 12 }),
          status,
          fc.nat({ max: 12 }),
          eol,
          fc.uint8Array({ maxLength: 50 }),
          cutsArb,
          (headers, st, statusAt, lastEol, body, cuts) => {
            const lines = headers.map((h) => `${h.name}:${h.pad}${h.value}${h.pad}${h.eol}`);
            if (st) lines.splice(Math.min(statusAt, lines.length), 0, `Status: ${st.code}${st.reason ? ` ${st.reason}` : ''}\r\n`);
            const bytes = Buffer.concat([Buffer.from(lines.join('') + lastEol, 'latin1'), Buffer.from(body)]);
            const parser = new CgiHeaderParser({ maxHeaderBytes: 1 << 16 });
            let result: CgiParseResult = { done: false };
            const rest: Buffer[] = [];
            for (const chunk of cutAt(bytes, cuts.map((c) => Math.floor(c * bytes.length)))) {
              const r = parser.push(chunk);
              if ('error' in r) throw r.error;
              if (r.done) {
                if (!('done' in result && result.done)) result = r;
                rest.push(r.rest);
              }
            }
            if (!('done' in result) || !result.done) throw new Error('not done');
            expect(result.head).toEqual({
              status: st?.code,
              reason: st?.reason,
              headers: headers.map((h) => [h.name, h.value]),
              location: [...headers].reverse().find((h) => h.name.toLowerCase() === 'location')?.value,
            });
            expect(Buffer.concat(rest).equals(Buffer.from(body))).toBe(true);
          },
        ),
        { numRuns: 400 },
      );
    });
  });
});
