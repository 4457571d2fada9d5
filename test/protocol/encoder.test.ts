import { InvalidArgumentError } from '../../src/errors';
import { decodeBeginRequest, decodeEndRequest, decodeUnknownType } from '../../src/protocol/bodies';
import { FCGI_MAX_CONTENT_LENGTH, ProtocolStatus, RecordType, Role } from '../../src/protocol/constants';
import {
  encodeAbortRequest,
  encodeBeginRequest,
  encodeEndRequest,
  encodeGetValues,
  encodeGetValuesResult,
  encodeParams,
  encodeRecord,
  encodeStream,
  encodeStreamEnd,
  encodeUnknownType,
} from '../../src/protocol/encoder';
import { decodePairs } from '../../src/protocol/name-value';
import { ParamsCollector } from '../../src/protocol/params-collector';
import { readHeader } from '../../src/protocol/record-header';
import { decodeChunks, type PlainRecord } from './support';

/** Decodes `buf`, checking every record is 8-byte aligned with zeroed padding. */
function records(buf: Buffer): PlainRecord[] {
  let pos = 0;
  while (pos < buf.length) {
    const h = readHeader(buf, pos);
    const end = pos + 8 + h.contentLength + h.paddingLength;
    expect((8 + h.contentLength + h.paddingLength) % 8).toBe(0);
    expect(h.paddingLength).toBeLessThan(8);
    expect(buf.subarray(pos + 8 + h.contentLength, end).every((b) => b === 0)).toBe(true);
    expect(buf[pos + 7]).toBe(0);
    pos = end;
  }
  expect(pos).toBe(buf.length);
  const out = decodeChunks([buf]);
  expect(out.error).toBeUndefined();
  expect(out.midRecord).toBe(false);
  return out.records;
}

function only(buf: Buffer): PlainRecord {
  const rs = records(buf);
  expect(rs).toHaveLength(1);
  return rs[0]!;
}

describe('encoder', () => {
  // Dirty the allocation pool so unzeroed padding would show up as non-zero bytes.
  beforeEach(() => {
    for (let i = 0; i < 64; i++) Buffer.allocUnsafe(64).fill(0xcc);
  });

  it('encodeRecord: any type, any content up to 65535 bytes, padded to 8', () => {
    for (const len of [0, 1, 7, 8, 9, 255, 4096, 65535]) {
      const content = Buffer.alloc(len, 0x5a);
      const buf = encodeRecord(200, 77, content);
      expect(buf.length % 8).toBe(0);
      expect(only(buf)).toEqual({ type: 200, requestId: 77, content });
    }
    expect(only(encodeRecord(RecordType.ABORT_REQUEST, 3))).toEqual({ type: 2, requestId: 3, content: Buffer.alloc(0) });
    expect(() => encodeRecord(6, 1, Buffer.alloc(65536))).toThrow(InvalidArgumentError);
  });

  it('encodeBeginRequest: role and FCGI_KEEP_CONN (§5.1)', () => {
    for (const keepConn of [true, false]) {
      for (const role of [Role.RESPONDER, Role.AUTHORIZER, Role.FILTER]) {
        const buf = encodeBeginRequest(65535, role, keepConn);
        expect(buf.length).toBe(16);
        const r = only(buf);
        expect(r.type).toBe(RecordType.BEGIN_REQUEST);
        expect(r.requestId).toBe(65535);
        expect(decodeBeginRequest(r.content)).toEqual({ role, flags: keepConn ? 1 : 0, keepConn });
        expect(r.content.subarray(3).every((b) => b === 0)).toBe(true);
      }
    }
    expect(() => encodeBeginRequest(1, 65536, false)).toThrow(InvalidArgumentError);
    expect(() => encodeBeginRequest(65536, 1, false)).toThrow(InvalidArgumentError);
  });

  it('encodeEndRequest: appStatus and protocolStatus (§5.5)', () => {
    for (const appStatus of [0, 1, 255, 0x7fffffff, 0x80000000, 0xffffffff]) {
      for (const ps of Object.values(ProtocolStatus)) {
        const r = only(encodeEndRequest(9, appStatus, ps));
        expect(r.type).toBe(RecordType.END_REQUEST);
        expect(decodeEndRequest(r.content)).toEqual({ appStatus, protocolStatus: ps });
      }
    }
    expect(decodeEndRequest(only(encodeEndRequest(1, -1, 0)).content).appStatus).toBe(0xffffffff);
    expect(() => encodeEndRequest(1, 2 ** 32, 0)).toThrow(InvalidArgumentError);
    expect(() => encodeEndRequest(1, 0, 256)).toThrow(InvalidArgumentError);
  });

  it('encodeAbortRequest: an empty ABORT_REQUEST (§5.4)', () => {
    const buf = encodeAbortRequest(5);
    expect(buf.length).toBe(8);
    expect(only(buf)).toEqual({ type: RecordType.ABORT_REQUEST, requestId: 5, content: Buffer.alloc(0) });
  });

  it('encodeStreamEnd: the empty record that ends a stream', () => {
    for (const type of [RecordType.PARAMS, RecordType.STDIN, RecordType.STDOUT, RecordType.STDERR, RecordType.DATA]) {
      expect(only(encodeStreamEnd(type, 1))).toEqual({ type, requestId: 1, content: Buffer.alloc(0) });
    }
  });

  describe('encodeStream', () => {
    it('gives an empty Buffer for empty data, not a terminator', () => {
      expect(encodeStream(RecordType.STDIN, 1, Buffer.alloc(0)).length).toBe(0);
    });

    it.each([1, 100, 65534, 65535, 65536, 65535 * 2, 65535 * 3 + 1, 200000])(
      'splits %i bytes into records of at most 65535',
      (len) => {
        const data = Buffer.alloc(len);
        for (let i = 0; i < len; i++) data[i] = (i * 31 + (i >> 8)) & 0xff;
        const rs = records(encodeStream(RecordType.STDOUT, 2, data));
        expect(rs).toHaveLength(Math.ceil(len / FCGI_MAX_CONTENT_LENGTH));
        rs.forEach((r, i) => {
          expect(r.type).toBe(RecordType.STDOUT);
          expect(r.requestId).toBe(2);
          const expected = i < rs.length - 1 ? FCGI_MAX_CONTENT_LENGTH : len - FCGI_MAX_CONTENT_LENGTH * i;
          expect(r.content.length).toBe(expected);
        });
        expect(Buffer.concat(rs.map((r) => r.content)).equals(data)).toBe(true);
      },
    );
  });

  describe('encodeParams', () => {
    function reassemble(buf: Buffer): Array<[string, string]> {
      const rs = records(buf);
      expect(rs.every((r) => r.type === RecordType.PARAMS && r.requestId === 4)).toBe(true);
      expect(rs[rs.length - 1]!.content.length).toBe(0);
      expect(rs.slice(0, -1).every((r) => r.content.length > 0)).toBe(true);
      const collector = new ParamsCollector({ maxBytes: 1 << 24 });
      let result;
      for (const r of rs) result = collector.push(r.content);
      if (!Array.isArray(result)) throw new Error(`no pairs: ${String(result)}`);
      return result;
    }

    it('ends with the empty PARAMS record, even with no pairs', () => {
      const buf = encodeParams(4, []);
      expect(buf.length).toBe(8);
      expect(reassemble(buf)).toEqual([]);
    });

    it('one record for ordinary CGI variables', () => {
      const pairs: Array<[string, string]> = [
        ['SCRIPT_FILENAME', '/srv/www/index.php'],
        ['REQUEST_METHOD', 'GET'],
        ['QUERY_STRING', 'a=1&b=2'],
        ['HTTP_COOKIE', 'c'.repeat(500)],
      ];
      const buf = encodeParams(4, pairs);
      expect(records(buf)).toHaveLength(2);
      expect(reassemble(buf)).toEqual(pairs);
    });

    it('splits a 70 000-byte value across records, the pair straddling them', () => {
      // Pair sizes: 1+1+1+6 = 9, 1+4+10+70000 = 70015, 1+1+1+5 = 8.
      const pairs: Array<[string, string]> = [
        ['A', 'before'],
        ['HTTP_X_BIG', 'v'.repeat(70000)],
        ['Z', 'after'],
      ];
      const buf = encodeParams(4, pairs);
      const rs = records(buf);
      expect(rs.map((r) => r.content.length)).toEqual([65535, 9 + 70015 + 8 - 65535, 0]);
      expect(reassemble(buf)).toEqual(pairs);
    });

    it.each([65535 - 7, 65535 - 6, 65535, 65536, 65535 * 2, 65535 * 3 + 17])(
      'reassembles a body of about %i bytes at record boundaries',
      (size) => {
        // One pair sized so the body is exactly `size` bytes: 1 + 4 + 1 + (size - 6).
        const pairs: Array<[string, string]> = [['K', 'q'.repeat(size - 6)]];
        const buf = encodeParams(4, pairs);
        const rs = records(buf);
        expect(rs.reduce((n, r) => n + r.content.length, 0)).toBe(size);
        expect(reassemble(buf)).toEqual(pairs);
      },
    );

    it('writes many pairs spanning several records with distinct content', () => {
      const pairs: Array<[string, string]> = [];
      for (let i = 0; i < 3000; i++) pairs.push([`NAME_${i}`, `${i}:`.repeat(i % 97)]);
      expect(reassemble(encodeParams(4, pairs))).toEqual(pairs);
    });
  });

  it('encodeGetValues: one management record, empty values, no terminator (§4.1)', () => {
    const r = only(encodeGetValues(['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS']));
    expect(r.type).toBe(RecordType.GET_VALUES);
    expect(r.requestId).toBe(0);
    expect(decodePairs(r.content)).toEqual([
      ['FCGI_MAX_CONNS', ''],
      ['FCGI_MAX_REQS', ''],
      ['FCGI_MPXS_CONNS', ''],
    ]);
  });

  it('encodeGetValuesResult: one management record (§4.1)', () => {
    const pairs: Array<[string, string]> = [
      ['FCGI_MAX_CONNS', '1'],
      ['FCGI_MPXS_CONNS', '0'],
    ];
    const r = only(encodeGetValuesResult(pairs));
    expect(r.type).toBe(RecordType.GET_VALUES_RESULT);
    expect(r.requestId).toBe(0);
    expect(decodePairs(r.content)).toEqual(pairs);
    expect(() => encodeGetValuesResult([['X', 'y'.repeat(70000)]])).toThrow(InvalidArgumentError);
  });

  it('encodeUnknownType: the type, seven reserved bytes (§4.2)', () => {
    const r = only(encodeUnknownType(200));
    expect(r).toMatchObject({ type: RecordType.UNKNOWN_TYPE, requestId: 0 });
    expect(decodeUnknownType(r.content)).toEqual({ type: 200 });
    expect(r.content.subarray(1).every((b) => b === 0)).toBe(true);
    expect(() => encodeUnknownType(256)).toThrow(InvalidArgumentError);
  });
});
