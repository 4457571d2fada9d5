import { InvalidArgumentError, ProtocolError } from '../errors';
import { FCGI_HEADER_LEN, FCGI_MAX_RECORD_LENGTH, FCGI_VERSION_1, RecordType } from './constants';

/** One decoded record (spec §3.3), padding stripped. */
export interface FcgiRecord {
  type: number;
  requestId: number;
  /**
   * The content bytes. When the record lay whole in one input chunk this is a view into that
   * chunk (no copy); a consumer that keeps it past the callback keeps the chunk alive.
   */
  content: Buffer;
}

export interface RecordDecoderOptions {
  /**
   * The largest record (header + content + padding) accepted; a larger one fails the decoder.
   * It is checked on every record as soon as its header is read, whether or not the record is
   * split across chunks, so the outcome never depends on how the socket cut the bytes. The
   * default is the largest record the format can express (65798 bytes), so by default only
   * malformed input fails: the decoder never holds more than one partial record.
   */
  maxBufferedBytes?: number;
  /**
   * Deliver the content of a stream record (STDIN, STDOUT, STDERR, DATA; spec §3.3) that
   * straddles chunks as it arrives, one view per chunk, instead of assembling it: a stream is a
   * sequence of bytes whose record boundaries mean nothing, so a proxy passes each piece on
   * without a copy. Pieces are never empty (an empty record still ends the stream). Discrete
   * records (END_REQUEST, BEGIN_REQUEST, management records) are always whole.
   */
  streamFragments?: boolean;
}

/** Stream record types (spec §3.3): their content is a byte sequence. */
function isStreamType(type: number): boolean {
  return type === RecordType.STDIN || type === RecordType.STDOUT || type === RecordType.STDERR || type === RecordType.DATA || type === RecordType.PARAMS;
}

const EMPTY = Buffer.alloc(0);

/**
 * Incremental record decoder (the shape of vscode-jsonrpc's message buffer). push() walks a
 * chunk header by header and hands out records whose bytes lie wholly inside it as subarray
 * views — no per-byte loop, no copy. Only a record that straddles chunks is assembled: its
 * header in an 8-byte scratch, its content in one buffer of exactly contentLength bytes,
 * filled by at most one copy per chunk (when its content then arrives whole in one chunk, that
 * chunk is viewed instead). A record is emitted once its padding has arrived too.
 *
 * The callback must not call push() on the same decoder (no re-entrancy).
 */
export class RecordDecoder {
  private readonly onRecord: (record: FcgiRecord) => void;
  private readonly maxRecordBytes: number;
  private readonly fragments: boolean;
  private error: ProtocolError | undefined;

  // A record split across chunks. headerFill > 0 means one is in progress.
  private readonly header = Buffer.alloc(FCGI_HEADER_LEN);
  private headerFill = 0;
  private type = 0;
  private requestId = 0;
  private contentLength = 0;
  private paddingLength = 0;
  /** Allocated (or viewed) when the first content byte arrives. */
  private content: Buffer = EMPTY;
  private contentFill = 0;
  private paddingFill = 0;

  constructor(onRecord: (record: FcgiRecord) => void, options: RecordDecoderOptions = {}) {
    const max = options.maxBufferedBytes ?? FCGI_MAX_RECORD_LENGTH;
    if (!Number.isInteger(max) || max < FCGI_HEADER_LEN) {
      throw new InvalidArgumentError(`maxBufferedBytes must be an integer >= ${FCGI_HEADER_LEN}, got ${max}`);
    }
    this.onRecord = onRecord;
    this.maxRecordBytes = max;
    this.fragments = options.streamFragments ?? false;
  }

  /** The error that stopped the decoder, if any. */
  get failed(): ProtocolError | undefined {
    return this.error;
  }

  /** Bytes held for an incomplete record (header, content and padding received so far). */
  get bufferedBytes(): number {
    return this.headerFill + this.contentFill + this.paddingFill;
  }

  /** True when part of a record is buffered: the connection ending now truncates a record. */
  get midRecord(): boolean {
    return this.headerFill > 0;
  }

  /**
   * Decodes a chunk, calling onRecord for every complete record in it. Never throws for bad
   * input: it returns a ProtocolError and stays failed (later pushes return the same error),
   * because after a bad header the record boundaries are lost for good. Records before the
   * bad bytes have been delivered. If onRecord throws, that exception propagates unchanged;
   * the decoder marks itself failed first, since the rest of that chunk was not decoded.
   */
  push(chunk: Buffer): ProtocolError | undefined {
    if (this.error) return this.error;
    try {
      return this.decode(chunk);
    } catch (err) {
      this.error ??= new ProtocolError('decoding stopped: the record callback threw');
      throw err;
    }
  }

  private decode(chunk: Buffer): ProtocolError | undefined {
    const end = chunk.length;
    let pos = 0;
    if (this.headerFill > 0) {
      pos = this.continuePartial(chunk, 0);
      if (this.error) return this.error;
      if (this.headerFill > 0) return undefined;
    }
    // Fast path: whole records inside this chunk become views of it.
    while (end - pos >= FCGI_HEADER_LEN) {
      const err = this.checkHeader(chunk, pos);
      if (err) return this.fail(err);
      const contentLength = chunk.readUInt16BE(pos + 4);
      const recordEnd = pos + FCGI_HEADER_LEN + contentLength + (chunk[pos + 6] as number);
      if (recordEnd > end) break;
      const type = chunk[pos + 1] as number;
      const requestId = chunk.readUInt16BE(pos + 2);
      const contentStart = pos + FCGI_HEADER_LEN;
      pos = recordEnd;
      this.onRecord({ type, requestId, content: chunk.subarray(contentStart, contentStart + contentLength) });
    }
    if (pos < end) {
      this.continuePartial(chunk, pos);
      if (this.error) return this.error;
    }
    return undefined;
  }

  /** §3.3: version must be FCGI_VERSION_1; and the record must fit maxBufferedBytes. */
  private checkHeader(buf: Buffer, pos: number): ProtocolError | undefined {
    const version = buf[pos] as number;
    if (version !== FCGI_VERSION_1) {
      return new ProtocolError(`FastCGI record with version ${version}, expected ${FCGI_VERSION_1} (spec §3.3)`);
    }
    const size = FCGI_HEADER_LEN + buf.readUInt16BE(pos + 4) + (buf[pos + 6] as number);
    if (size > this.maxRecordBytes) {
      return new ProtocolError(`FastCGI record of ${size} bytes exceeds maxBufferedBytes ${this.maxRecordBytes}`);
    }
    return undefined;
  }

  /**
   * Stops the decoder for good and drops the record it was assembling: nothing after a bad
   * header can be decoded, and a failed decoder then reports the same state (no bytes held, not
   * mid-record) whether the bad header arrived whole in one chunk or split across two.
   */
  private fail(err: ProtocolError): ProtocolError {
    this.error = err;
    this.headerFill = 0;
    this.contentFill = 0;
    this.paddingFill = 0;
    this.content = EMPTY;
    return err;
  }

  /**
   * Feeds chunk[pos..] into the record being assembled. Returns the offset after the bytes it
   * took: the chunk's end if the record is still incomplete, else the end of the record (after
   * emitting it). On a bad header it sets this.error.
   */
  private continuePartial(chunk: Buffer, pos: number): number {
    const end = chunk.length;
    if (this.headerFill < FCGI_HEADER_LEN) {
      const n = Math.min(FCGI_HEADER_LEN - this.headerFill, end - pos);
      chunk.copy(this.header, this.headerFill, pos, pos + n);
      this.headerFill += n;
      pos += n;
      if (this.headerFill < FCGI_HEADER_LEN) return pos;
      const err = this.checkHeader(this.header, 0);
      if (err) {
        this.fail(err);
        return end;
      }
      this.type = this.header[1] as number;
      this.requestId = this.header.readUInt16BE(2);
      this.contentLength = this.header.readUInt16BE(4);
      this.paddingLength = this.header[6] as number;
    }
    const contentLeft = this.contentLength - this.contentFill;
    const fragment = this.fragments && isStreamType(this.type);
    if (contentLeft > 0) {
      const n = Math.min(contentLeft, end - pos);
      if (fragment) {
        if (n > 0) {
          this.contentFill += n;
          pos += n;
          this.onRecord({ type: this.type, requestId: this.requestId, content: chunk.subarray(pos - n, pos) });
        }
      } else {
        if (this.contentFill === 0 && end - pos >= contentLeft) {
          this.content = chunk.subarray(pos, pos + contentLeft);
        } else {
          if (this.contentFill === 0) this.content = Buffer.allocUnsafe(this.contentLength);
          chunk.copy(this.content, this.contentFill, pos, Math.min(end, pos + contentLeft));
        }
        this.contentFill += n;
        pos += n;
      }
      if (this.contentFill < this.contentLength) return pos;
    }
    const paddingLeft = this.paddingLength - this.paddingFill;
    if (paddingLeft > 0) {
      const n = Math.min(paddingLeft, end - pos);
      this.paddingFill += n;
      pos += n;
      if (this.paddingFill < this.paddingLength) return pos;
    }
    const record: FcgiRecord = { type: this.type, requestId: this.requestId, content: this.content };
    // A fragmented record's content went out piece by piece; only an empty one is left to say.
    const delivered = fragment && this.contentLength > 0;
    this.headerFill = 0;
    this.contentFill = 0;
    this.paddingFill = 0;
    this.content = EMPTY;
    if (!delivered) this.onRecord(record);
    return pos;
  }
}
