/**
 * One-write requests laid out for libfcgi's 8192-byte reads (src/client/request-bytes.ts):
 * the empty STDIN record must arrive in the same read() as the last body byte, or libfcgi
 * leaves it in the socket and drops the next request on a kept connection.
 */
import fc from 'fast-check';
import { encodeWholeRequest, LIBFCGI_READ_SIZE, stdinLayout } from '../../src/client/request-bytes';
import { RecordType, Role } from '../../src/protocol/constants';
import { encodeParams } from '../../src/protocol/encoder';
import { RecordDecoder, type FcgiRecord } from '../../src/protocol/record-decoder';

function decode(bytes: Buffer): FcgiRecord[] {
  const out: FcgiRecord[] = [];
  const d = new RecordDecoder((r) => out.push({ ...r, content: Buffer.from(r.content) }));
  expect(d.push(bytes)).toBeUndefined();
  expect(d.midRecord).toBe(false);
  return out;
}

/** Offset just after the last STDIN content byte, and the end of the empty STDIN record. */
function tail(bytes: Buffer): { lastContentEnd: number; end: number } {
  let pos = 0;
  let lastContentEnd = -1;
  while (pos < bytes.length) {
    const type = bytes[pos + 1]!;
    const length = bytes.readUInt16BE(pos + 4);
    const padding = bytes[pos + 6]!;
    if (type === RecordType.STDIN && length > 0) lastContentEnd = pos + 8 + length;
    pos += 8 + length + padding;
  }
  return { lastContentEnd, end: pos };
}

describe('encodeWholeRequest', () => {
  test('BEGIN_REQUEST, PARAMS and STDIN decode back to what went in', () => {
    const body = Buffer.from('a=1&b=2');
    const params = encodeParams(1, [['REQUEST_METHOD', 'POST'], ['CONTENT_LENGTH', String(body.length)]]);
    const { bytes, keepConn } = encodeWholeRequest(1, { role: Role.RESPONDER, keepConn: true, params, body });
    expect(keepConn).toBe(true);
    const records = decode(bytes);
    expect(records.map((r) => r.type)).toEqual([RecordType.BEGIN_REQUEST, RecordType.PARAMS, RecordType.PARAMS, RecordType.STDIN, RecordType.STDIN]);
    expect(records[0]!.content[2]).toBe(1); // FCGI_KEEP_CONN
    expect(records[3]!.content).toEqual(body);
    expect(records[4]!.content.length).toBe(0);
  });

  test('with no body, STDIN is only its terminator', () => {
    const params = encodeParams(1, [['REQUEST_METHOD', 'GET']]);
    const { bytes } = encodeWholeRequest(1, { role: Role.RESPONDER, keepConn: true, params, body: undefined });
    expect(decode(bytes).map((r) => r.type)).toEqual([RecordType.BEGIN_REQUEST, RecordType.PARAMS, RecordType.PARAMS, RecordType.STDIN]);
    expect(bytes.subarray(16, 16 + params.length).equals(params)).toBe(true);
    expect(bytes.length).toBe(16 + params.length + 8);
  });

  test('for every params size and body up to 64 KiB, the last body byte and the terminator share a libfcgi read', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 1, max: 64 * 1024 }), (valueLength, bodyLength) => {
        const params = encodeParams(1, [['X', 'v'.repeat(valueLength)]]);
        const body = Buffer.alloc(bodyLength, 7);
        const { bytes, keepConn } = encodeWholeRequest(1, { role: Role.RESPONDER, keepConn: true, params, body });
        const records = decode(bytes);
        const stdin = records.filter((r) => r.type === RecordType.STDIN);
        expect(Buffer.concat(stdin.map((r) => r.content)).equals(body)).toBe(true);
        expect(stdin[stdin.length - 1]!.content.length).toBe(0);
        const t = tail(bytes);
        expect(t.end).toBe(bytes.length);
        if (keepConn) {
          expect(Math.floor((t.lastContentEnd - 1) / LIBFCGI_READ_SIZE)).toBe(Math.floor((t.end - 1) / LIBFCGI_READ_SIZE));
        }
      }),
      { numRuns: 300 },
    );
  });

  test('each boundary case is covered: padding kept, padding dropped, last byte split off, no layout', () => {
    // Far from any boundary the record is padded to 8 bytes as usual.
    expect(stdinLayout(0, 100)).toEqual({ records: [100], lastPadding: 4 });
    // Content ends right on a read boundary: its last byte moves into a record of its own.
    expect(stdinLayout(0, LIBFCGI_READ_SIZE - 8)?.records).toEqual([LIBFCGI_READ_SIZE - 9, 1]);
    // An unaligned start (the head is always 8-aligned in practice): content ends 13 bytes
    // before the boundary, where 6 bytes of alignment padding plus the terminator do not fit.
    expect(stdinLayout(1, LIBFCGI_READ_SIZE - 22)).toEqual({ records: [LIBFCGI_READ_SIZE - 22], lastPadding: 0 });
    // One byte that ends a read cannot be moved: no layout, the caller drops FCGI_KEEP_CONN.
    expect(stdinLayout(LIBFCGI_READ_SIZE - 9, 1)).toBeUndefined();
  });
});
