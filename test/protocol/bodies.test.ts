import { ProtocolError } from '../../src/errors';
import { decodeBeginRequest, decodeEndRequest, decodeUnknownType } from '../../src/protocol/bodies';

describe('discrete record bodies', () => {
  it('decodes BEGIN_REQUEST role, flags and keepConn (§5.1)', () => {
    expect(decodeBeginRequest(Buffer.from([0, 1, 1, 0, 0, 0, 0, 0]))).toEqual({ role: 1, flags: 1, keepConn: true });
    expect(decodeBeginRequest(Buffer.from([0, 3, 0, 9, 9, 9, 9, 9]))).toEqual({ role: 3, flags: 0, keepConn: false });
    // Unknown flag bits are reported, and only bit 0 is FCGI_KEEP_CONN.
    expect(decodeBeginRequest(Buffer.from([1, 2, 0xfe, 0, 0, 0, 0, 0]))).toEqual({ role: 258, flags: 0xfe, keepConn: false });
  });

  it('decodes END_REQUEST appStatus unsigned and protocolStatus (§5.5)', () => {
    expect(decodeEndRequest(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]))).toEqual({ appStatus: 0, protocolStatus: 0 });
    expect(decodeEndRequest(Buffer.from([0xff, 0xff, 0xff, 0xff, 3, 0, 0, 0]))).toEqual({
      appStatus: 4294967295,
      protocolStatus: 3,
    });
    expect(decodeEndRequest(Buffer.from([0x80, 0, 1, 2, 1, 0, 0, 0]))).toEqual({ appStatus: 0x80000102, protocolStatus: 1 });
  });

  it('decodes UNKNOWN_TYPE (§4.2)', () => {
    expect(decodeUnknownType(Buffer.from([42, 0, 0, 0, 0, 0, 0, 0]))).toEqual({ type: 42 });
  });

  it.each([0, 1, 7, 9, 16])('rejects a body of %i bytes with ProtocolError', (n) => {
    const body = Buffer.alloc(n);
    expect(() => decodeBeginRequest(body)).toThrow(ProtocolError);
    expect(() => decodeEndRequest(body)).toThrow(ProtocolError);
    expect(() => decodeUnknownType(body)).toThrow(ProtocolError);
    expect(() => decodeEndRequest(body)).toThrow(`END_REQUEST body is ${n} bytes, expected 8`);
  });
});
