import { FCGI_HEADER_LEN, FCGI_MAX_CONTENT_LENGTH, RecordType } from '../protocol/constants';
import { encodeBeginRequest } from '../protocol/encoder';
import { alignedPadding, writeHeader } from '../protocol/record-header';

/**
 * libfcgi reads its input 8192 bytes at a time into a buffer that FCGX_Finish_r throws away
 * (fcgiapp.c: NewReader(reqDataPtr, 8192, 0), FillBuffProc). An app reads STDIN up to
 * CONTENT_LENGTH and no further, so the empty STDIN record that ends the body is consumed only
 * when it came in the same read() as the last body byte; otherwise it stays in the socket and
 * the next FCGX_Accept_r on a kept connection takes it for a broken request and drops the
 * connection unanswered (fixtures/fcgi-apps/README.md).
 */
export const LIBFCGI_READ_SIZE = 8192;

/** A request whose every byte is known up front: BEGIN_REQUEST … empty STDIN. */
export interface WholeRequest {
  readonly role: number;
  readonly keepConn: boolean;
  /** The PARAMS stream, its empty terminator included (encodeParams). */
  readonly params: Buffer;
  readonly body: Buffer | undefined;
}

/** The same read() of `readSize` bytes holds byte `a` and byte `b` when both lie in one window. */
function sameWindow(a: number, b: number, readSize: number): boolean {
  return Math.floor(a / readSize) === Math.floor(b / readSize);
}

/**
 * Lays out the STDIN records of `length` body bytes that start at `offset` of the request:
 * the content length of each record, and the padding of the last one. Records are full
 * (65535 bytes) but the last; that one gets the usual 8-byte alignment padding unless a
 * libfcgi read would then end between the last body byte and the end of the empty STDIN
 * record; then it gets no padding, or, when that is not enough, its last byte moves into a
 * record of its own, which shifts the tail 8 bytes past the read boundary. Undefined when no
 * layout keeps them together (a one-byte body right at a boundary).
 */
export function stdinLayout(offset: number, length: number, readSize = LIBFCGI_READ_SIZE): { records: number[]; lastPadding: number } | undefined {
  const records: number[] = [];
  for (let left = length; left > 0; left -= FCGI_MAX_CONTENT_LENGTH) records.push(Math.min(left, FCGI_MAX_CONTENT_LENGTH));
  // Where the last body byte ends with the records as they are, before any padding.
  const contentEnd = offset + records.length * FCGI_HEADER_LEN + length + (records.length - 1); // full records carry 1 byte of padding
  const fits = (end: number, padding: number): boolean => sameWindow(end - 1, end + padding + FCGI_HEADER_LEN - 1, readSize);
  const last = records[records.length - 1] as number;
  const aligned = alignedPadding(last);
  if (fits(contentEnd, aligned)) return { records, lastPadding: aligned };
  if (fits(contentEnd, 0)) return { records, lastPadding: 0 };
  if (last >= 2 && fits(contentEnd + FCGI_HEADER_LEN, 0)) {
    records[records.length - 1] = last - 1;
    records.push(1);
    return { records, lastPadding: 0 };
  }
  return undefined;
}

/**
 * One buffer for one write(): BEGIN_REQUEST, PARAMS, and STDIN with its body and terminator.
 * With keepConn and a body, the STDIN records are laid out so that the terminator arrives in
 * the app's read of the last body byte (stdinLayout); when no layout can promise that, the
 * request goes without FCGI_KEEP_CONN and `keepConn` in the result says so.
 */
export function encodeWholeRequest(requestId: number, req: WholeRequest): { bytes: Buffer; keepConn: boolean } {
  const body = req.body ?? EMPTY;
  const head = FCGI_HEADER_LEN * 2 + req.params.length; // BEGIN_REQUEST is 16 bytes
  let keepConn = req.keepConn;
  let layout: { records: number[]; lastPadding: number } = { records: [], lastPadding: 0 };
  if (body.length > 0) {
    const kept = keepConn ? stdinLayout(head, body.length) : undefined;
    // Without FCGI_KEEP_CONN the app closes the connection after the request: any layout does.
    if (!kept) keepConn = false;
    layout = kept ?? (stdinLayout(head, body.length, Number.POSITIVE_INFINITY) as typeof layout);
  }
  const { records, lastPadding } = layout;
  // Full records before the last carry 1 byte of padding (65535 + 1 is 8-aligned).
  const paddings = records.map((n, i) => (i === records.length - 1 ? lastPadding : n === FCGI_MAX_CONTENT_LENGTH ? 1 : 0));
  let total = head + FCGI_HEADER_LEN;
  for (let i = 0; i < records.length; i++) total += FCGI_HEADER_LEN + (records[i] as number) + (paddings[i] as number);
  const out = Buffer.allocUnsafe(total);
  encodeBeginRequest(requestId, req.role, keepConn).copy(out, 0);
  req.params.copy(out, 16);
  let pos = head;
  let from = 0;
  for (let i = 0; i < records.length; i++) {
    const n = records[i] as number;
    const padding = paddings[i] as number;
    pos = writeHeader(out, pos, RecordType.STDIN, requestId, n, padding);
    body.copy(out, pos, from, from + n);
    pos += n;
    from += n;
    out.fill(0, pos, pos + padding);
    pos += padding;
  }
  writeHeader(out, pos, RecordType.STDIN, requestId, 0, 0);
  return { bytes: out, keepConn };
}

const EMPTY = Buffer.alloc(0);
