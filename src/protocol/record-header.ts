import { InvalidArgumentError } from '../errors';
import { FCGI_HEADER_LEN, FCGI_MAX_CONTENT_LENGTH, FCGI_MAX_PADDING_LENGTH, FCGI_VERSION_1 } from './constants';

/** The eight header bytes of a record (spec §3.3), decoded. */
export interface RecordHeader {
  version: number;
  type: number;
  requestId: number;
  contentLength: number;
  paddingLength: number;
}

function checkField(name: string, value: number, max: number): void {
  // A value that does not fit its field would be silently truncated by the byte writes.
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new InvalidArgumentError(`FastCGI record ${name} must be an integer in 0..${max}, got ${value}`);
  }
}

/**
 * Writes a version-1 record header at `offset` (spec §3.3: B1/B0 pairs are big-endian, the
 * reserved byte is zero). Returns the offset just after the header. Throws
 * InvalidArgumentError when a field does not fit its bytes — a caller bug, not peer input.
 */
export function writeHeader(
  buf: Buffer,
  offset: number,
  type: number,
  requestId: number,
  contentLength: number,
  paddingLength: number,
): number {
  checkField('type', type, 0xff);
  checkField('requestId', requestId, 0xffff);
  checkField('contentLength', contentLength, FCGI_MAX_CONTENT_LENGTH);
  checkField('paddingLength', paddingLength, FCGI_MAX_PADDING_LENGTH);
  buf[offset] = FCGI_VERSION_1;
  buf[offset + 1] = type;
  buf[offset + 2] = requestId >>> 8;
  buf[offset + 3] = requestId & 0xff;
  buf[offset + 4] = contentLength >>> 8;
  buf[offset + 5] = contentLength & 0xff;
  buf[offset + 6] = paddingLength;
  buf[offset + 7] = 0;
  return offset + FCGI_HEADER_LEN;
}

/**
 * Reads the header at `offset`. No validation: the caller decides what a bad version means
 * (RecordDecoder turns it into a ProtocolError). Throws RangeError if fewer than 8 bytes remain.
 */
export function readHeader(buf: Buffer, offset: number): RecordHeader {
  if (buf.length - offset < FCGI_HEADER_LEN) {
    throw new RangeError(`a record header needs ${FCGI_HEADER_LEN} bytes, ${buf.length - offset} left at ${offset}`);
  }
  return {
    version: buf.readUInt8(offset),
    type: buf.readUInt8(offset + 1),
    requestId: buf.readUInt16BE(offset + 2),
    contentLength: buf.readUInt16BE(offset + 4),
    paddingLength: buf.readUInt8(offset + 6),
  };
}

/**
 * Padding that makes a record a multiple of 8 bytes long: the spec (§3.3) recommends records
 * be aligned on 8-byte boundaries, and the header itself is 8 bytes.
 */
export function alignedPadding(contentLength: number): number {
  return -contentLength & 7;
}
