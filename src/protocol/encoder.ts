import { InvalidArgumentError } from '../errors';
import { FCGI_HEADER_LEN, FCGI_KEEP_CONN, FCGI_MAX_CONTENT_LENGTH, FCGI_NULL_REQUEST_ID, RecordType } from './constants';
import { measurePairs, writePairs } from './name-value';
import { alignedPadding, writeHeader } from './record-header';

/**
 * Record encoders. Every function returns ONE Buffer, allocated once, so a caller can hand it
 * to one socket write. Every record is padded to a multiple of 8 bytes (spec §3.3 recommends
 * 8-byte alignment); padding bytes are zeroed so no stale heap memory reaches the wire
 * (Buffer.allocUnsafe hands out recycled pool memory). Streams are split into records of
 * 65535 content bytes, the most a record holds, the last one carrying the rest.
 *
 * Out-of-range arguments (a request id above 65535, a discrete record over 65535 bytes) are
 * caller bugs and throw InvalidArgumentError; nothing here depends on peer input.
 */

const EMPTY = Buffer.alloc(0);

/** Bytes of one full stream record: header, 65535 content bytes, 1 padding byte. */
const FULL_RECORD_LENGTH = FCGI_HEADER_LEN + FCGI_MAX_CONTENT_LENGTH + alignedPadding(FCGI_MAX_CONTENT_LENGTH);

/** Bytes of the records that carry `length` content bytes of a stream (no terminator). */
function streamRecordsLength(length: number): number {
  const full = Math.floor(length / FCGI_MAX_CONTENT_LENGTH);
  const rest = length - full * FCGI_MAX_CONTENT_LENGTH;
  return full * FULL_RECORD_LENGTH + (rest === 0 ? 0 : FCGI_HEADER_LEN + rest + alignedPadding(rest));
}

function zeroPadding(out: Buffer, offset: number, padding: number): number {
  for (let i = 0; i < padding; i++) out[offset + i] = 0;
  return offset + padding;
}

/** Writes content[start, end) as one padded record at `offset`; returns the offset after it. */
function writeRecord(
  out: Buffer,
  offset: number,
  type: number,
  requestId: number,
  content: Buffer,
  start: number,
  end: number,
): number {
  const length = end - start;
  const padding = alignedPadding(length);
  const pos = writeHeader(out, offset, type, requestId, length, padding);
  content.copy(out, pos, start, end);
  return zeroPadding(out, pos + length, padding);
}

function checkDiscreteLength(what: string, length: number): void {
  if (length > FCGI_MAX_CONTENT_LENGTH) {
    throw new InvalidArgumentError(
      `${what} content is ${length} bytes; a single record holds at most ${FCGI_MAX_CONTENT_LENGTH} (spec §3.3)`,
    );
  }
}

/** One record of any type with the given content (≤ 65535 bytes). */
export function encodeRecord(type: number, requestId: number, content: Buffer = EMPTY): Buffer {
  checkDiscreteLength('record', content.length);
  const out = Buffer.allocUnsafe(FCGI_HEADER_LEN + content.length + alignedPadding(content.length));
  writeRecord(out, 0, type, requestId, content, 0, content.length);
  return out;
}

/** BEGIN_REQUEST (§5.1): role, flags (FCGI_KEEP_CONN or 0), five reserved bytes. */
export function encodeBeginRequest(requestId: number, role: number, keepConn: boolean): Buffer {
  if (!Number.isInteger(role) || role < 0 || role > 0xffff) {
    throw new InvalidArgumentError(`BEGIN_REQUEST role must be an integer in 0..65535, got ${role}`);
  }
  const out = Buffer.allocUnsafe(16);
  writeHeader(out, 0, RecordType.BEGIN_REQUEST, requestId, 8, 0);
  out.writeUInt16BE(role, 8);
  out[10] = keepConn ? FCGI_KEEP_CONN : 0;
  zeroPadding(out, 11, 5);
  return out;
}

/**
 * The PARAMS stream of a request (§5.2): the pairs split into records of at most 65535 bytes
 * (a pair may straddle two records, as §3.4 allows), then the empty PARAMS record that ends
 * the stream. One allocation: the pairs are written contiguously after the first header and,
 * only when they exceed one record, moved apart in place to make room for the other headers.
 */
export function encodeParams(requestId: number, pairs: Iterable<readonly [string, string]>): Buffer {
  const layout = measurePairs(pairs);
  const bodyLength = layout.byteLength;
  const total = streamRecordsLength(bodyLength) + FCGI_HEADER_LEN;
  const out = Buffer.allocUnsafe(total);
  writePairs(out, FCGI_HEADER_LEN, layout);
  const records = Math.ceil(bodyLength / FCGI_MAX_CONTENT_LENGTH);
  // Last chunk first: each chunk's final place is at or after where it was written and before
  // the next chunk's final place, so no chunk is overwritten before it has moved.
  for (let k = records - 1; k >= 1; k--) {
    const from = FCGI_HEADER_LEN + k * FCGI_MAX_CONTENT_LENGTH;
    const to = k * FULL_RECORD_LENGTH + FCGI_HEADER_LEN;
    out.copyWithin(to, from, Math.min(from + FCGI_MAX_CONTENT_LENGTH, FCGI_HEADER_LEN + bodyLength));
  }
  for (let k = 0; k < records; k++) {
    const length = Math.min(FCGI_MAX_CONTENT_LENGTH, bodyLength - k * FCGI_MAX_CONTENT_LENGTH);
    const padding = alignedPadding(length);
    const pos = writeHeader(out, k * FULL_RECORD_LENGTH, RecordType.PARAMS, requestId, length, padding);
    zeroPadding(out, pos + length, padding);
  }
  writeHeader(out, total - FCGI_HEADER_LEN, RecordType.PARAMS, requestId, 0, 0);
  return out;
}

/**
 * Stream data (STDIN, STDOUT, STDERR, DATA; §3.3 "stream records") split into records of at
 * most 65535 bytes. Empty data gives an empty Buffer, NOT the terminator: an empty record
 * would end the stream (§3.3), which only encodeStreamEnd may do.
 */
export function encodeStream(type: number, requestId: number, data: Buffer): Buffer {
  if (data.length === 0) return EMPTY;
  const out = Buffer.allocUnsafe(streamRecordsLength(data.length));
  let pos = 0;
  for (let start = 0; start < data.length; start += FCGI_MAX_CONTENT_LENGTH) {
    const end = Math.min(start + FCGI_MAX_CONTENT_LENGTH, data.length);
    pos = writeRecord(out, pos, type, requestId, data, start, end);
  }
  return out;
}

/** The empty record that ends a stream (§3.3). */
export function encodeStreamEnd(type: number, requestId: number): Buffer {
  const out = Buffer.allocUnsafe(FCGI_HEADER_LEN);
  writeHeader(out, 0, type, requestId, 0, 0);
  return out;
}

/**
 * END_REQUEST (§5.5). appStatus is the app's would-be exit status, four bytes: a negative
 * int32 (exit status -1) is written as its two's complement, so it decodes as 4294967295.
 */
export function encodeEndRequest(requestId: number, appStatus: number, protocolStatus: number): Buffer {
  if (!Number.isInteger(appStatus) || appStatus < -0x80000000 || appStatus > 0xffffffff) {
    throw new InvalidArgumentError(`END_REQUEST appStatus must fit 32 bits, got ${appStatus}`);
  }
  if (!Number.isInteger(protocolStatus) || protocolStatus < 0 || protocolStatus > 0xff) {
    throw new InvalidArgumentError(`END_REQUEST protocolStatus must be an integer in 0..255, got ${protocolStatus}`);
  }
  const out = Buffer.allocUnsafe(16);
  writeHeader(out, 0, RecordType.END_REQUEST, requestId, 8, 0);
  out.writeUInt32BE(appStatus >>> 0, 8);
  out[12] = protocolStatus;
  zeroPadding(out, 13, 3);
  return out;
}

/** ABORT_REQUEST (§5.4): empty content. */
export function encodeAbortRequest(requestId: number): Buffer {
  return encodeStreamEnd(RecordType.ABORT_REQUEST, requestId);
}

function encodePairsRecord(what: string, type: number, pairs: Iterable<readonly [string, string]>): Buffer {
  const layout = measurePairs(pairs);
  checkDiscreteLength(what, layout.byteLength);
  const padding = alignedPadding(layout.byteLength);
  const out = Buffer.allocUnsafe(FCGI_HEADER_LEN + layout.byteLength + padding);
  const pos = writeHeader(out, 0, type, FCGI_NULL_REQUEST_ID, layout.byteLength, padding);
  zeroPadding(out, writePairs(out, pos, layout), padding);
  return out;
}

/**
 * GET_VALUES (§4.1): a management record (request id 0) of pairs with empty values. It is one
 * discrete record, not a stream: no terminator follows.
 */
export function encodeGetValues(names: readonly string[]): Buffer {
  return encodePairsRecord(
    'GET_VALUES',
    RecordType.GET_VALUES,
    names.map((name): readonly [string, string] => [name, '']),
  );
}

/** GET_VALUES_RESULT (§4.1): one management record with the values the app knows. */
export function encodeGetValuesResult(pairs: Iterable<readonly [string, string]>): Buffer {
  return encodePairsRecord('GET_VALUES_RESULT', RecordType.GET_VALUES_RESULT, pairs);
}

/** UNKNOWN_TYPE (§4.2): the management record type that was not understood, reserved[7]. */
export function encodeUnknownType(type: number): Buffer {
  if (!Number.isInteger(type) || type < 0 || type > 0xff) {
    throw new InvalidArgumentError(`UNKNOWN_TYPE type must be an integer in 0..255, got ${type}`);
  }
  const out = Buffer.allocUnsafe(16);
  writeHeader(out, 0, RecordType.UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, 8, 0);
  out[8] = type;
  zeroPadding(out, 9, 7);
  return out;
}
