import { BadCgiHeaderError, InvalidArgumentError, LimitError } from '../errors';

/**
 * The CGI header block at the start of a response's STDOUT (RFC 3875 §6.2–6.3): header lines,
 * then a blank line, then the body. Parsed incrementally — a block may be cut at any byte,
 * between CR and LF included — in linear time: each chunk is scanned for LF once by
 * Buffer#indexOf, and a line cut across chunks is joined once, when its LF arrives.
 *
 * Names and values are byte strings (latin1), as Node's http module keeps header values, so
 * the front end can set them with res.setHeader and the same bytes go out.
 */

export interface CgiHead {
  /** From `Status:` (RFC 3875 §6.3.3); undefined when the app sent none. */
  status: number | undefined;
  /** The reason phrase after the Status code, if any. */
  reason: string | undefined;
  /**
   * Every header line except Status, in order, names as sent, repeated names (Set-Cookie)
   * as separate entries. Location is here too.
   */
  headers: Array<[string, string]>;
  /** The last Location header's value (RFC 3875 §6.3.2). */
  location: string | undefined;
}

export type CgiParseResult =
  | { done: false }
  | { done: true; head: CgiHead; rest: Buffer }
  | { error: BadCgiHeaderError | LimitError };

export interface CgiHeaderParserOptions {
  /** Most bytes the block may take, its lines and the blank line included. */
  maxHeaderBytes: number;
}

const LF = 0x0a;
const CR = 0x0d;
const NOT_DONE: CgiParseResult = { done: false };

/** RFC 7230 §3.2.6 token: what a header name may be. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * RFC 7230 §3.2 field-value bytes: HTAB, SP, VCHAR, obs-text. Other control bytes are refused
 * here: Node's res.setHeader would throw ERR_INVALID_CHAR on them in the front end.
 */
const BAD_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/;
/** RFC 3875 §6.3.3: Status = 3-digit code, optionally SP reason-phrase. */
const STATUS = /^([0-9]{3})(?:[ \t]+(.*))?$/;
const OWS_EDGES = /^[ \t]+|[ \t]+$/g;

function trimOws(s: string): string {
  return s.replace(OWS_EDGES, '');
}

/** A line for an error message: at most 80 chars, JSON-quoted so control bytes show. */
function quote(line: string): string {
  return JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line);
}

export class CgiHeaderParser {
  private readonly maxHeaderBytes: number;
  /** Bytes of the block taken so far: complete lines and the partial one. */
  private consumed = 0;
  /** A line cut across chunks: copies of its pieces (the caller may reuse its buffers). */
  private partial: Buffer[] = [];
  private sawBytes = false;
  private readonly headers: Array<[string, string]> = [];
  private status: number | undefined;
  private reason: string | undefined;
  private location: string | undefined;
  /** The header whose value a folded line may still extend. */
  private pendingName: string | undefined;
  private pendingValue = '';
  private head: CgiHead | undefined;
  private error: BadCgiHeaderError | LimitError | undefined;

  constructor(options: CgiHeaderParserOptions) {
    const max = options.maxHeaderBytes;
    if (!Number.isInteger(max) || max < 1) {
      throw new InvalidArgumentError(`maxHeaderBytes must be a positive integer, got ${max}`);
    }
    this.maxHeaderBytes = max;
  }

  /**
   * Feeds STDOUT bytes. `{ done: false }` until the blank line; then the head and the body
   * bytes that followed it in this chunk. After done, further chunks come back whole as
   * `rest` with the same head; after an error, the same error.
   */
  push(chunk: Buffer): CgiParseResult {
    if (this.error) return { error: this.error };
    if (this.head) return { done: true, head: this.head, rest: chunk };
    if (chunk.length > 0) this.sawBytes = true;
    let start = 0;
    for (;;) {
      const lf = chunk.indexOf(LF, start);
      if (lf === -1) {
        const n = chunk.length - start;
        if (this.consumed + n > this.maxHeaderBytes) return this.tooLarge();
        if (n > 0) {
          this.consumed += n;
          this.partial.push(Buffer.from(chunk.subarray(start)));
        }
        return NOT_DONE;
      }
      if (this.consumed + (lf + 1 - start) > this.maxHeaderBytes) return this.tooLarge();
      this.consumed += lf + 1 - start;
      let line = chunk.subarray(start, lf);
      if (this.partial.length > 0) {
        this.partial.push(line);
        line = Buffer.concat(this.partial);
        this.partial = [];
      }
      start = lf + 1;
      // Lines end in LF or CRLF (RFC 3875 §6.2 says CRLF; many apps send bare LF).
      const length = line.length > 0 && line[line.length - 1] === CR ? line.length - 1 : line.length;
      if (length === 0) {
        const err = this.finishPending();
        if (err) return this.fail(err);
        this.head = {
          status: this.status,
          reason: this.reason,
          headers: this.headers,
          location: this.location,
        };
        return { done: true, head: this.head, rest: chunk.subarray(start) };
      }
      const err = this.onLine(line.toString('latin1', 0, length));
      if (err) return this.fail(err);
    }
  }

  /**
   * STDOUT ended (or END_REQUEST came) before the block did: the error to report. Call it
   * only while push() has not returned done.
   */
  end(): BadCgiHeaderError {
    if (this.error instanceof BadCgiHeaderError) return this.error;
    if (!this.sawBytes) return new BadCgiHeaderError('no CGI header block: the app sent no STDOUT');
    return new BadCgiHeaderError('STDOUT ended inside the CGI header block, before the blank line that ends it');
  }

  private onLine(line: string): BadCgiHeaderError | undefined {
    const first = line.charCodeAt(0);
    if (first === 0x20 || first === 0x09) {
      // obs-fold (RFC 7230 §3.2.4): the line continues the previous header; one SP joins them.
      if (this.pendingName === undefined) {
        return new BadCgiHeaderError(`CGI header continuation line with no header before it: ${quote(line)}`);
      }
      const more = trimOws(line);
      if (more.length > 0) this.pendingValue = this.pendingValue.length > 0 ? `${this.pendingValue} ${more}` : more;
      return undefined;
    }
    const err = this.finishPending();
    if (err) return err;
    const colon = line.indexOf(':');
    if (colon === -1) return new BadCgiHeaderError(`CGI header line without ':': ${quote(line)}`);
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return new BadCgiHeaderError(`CGI header name is not a token: ${quote(line)}`);
    this.pendingName = name;
    this.pendingValue = trimOws(line.slice(colon + 1));
    return undefined;
  }

  /** Files the pending header once no folded line can extend it. */
  private finishPending(): BadCgiHeaderError | undefined {
    const name = this.pendingName;
    if (name === undefined) return undefined;
    const value = this.pendingValue;
    this.pendingName = undefined;
    this.pendingValue = '';
    if (BAD_VALUE_CHAR.test(value)) {
      return new BadCgiHeaderError(`CGI header ${name} has a control character in its value: ${quote(value)}`);
    }
    const lower = name.toLowerCase();
    if (lower === 'status') {
      const m = STATUS.exec(value);
      const code = m ? Number(m[1]) : 0;
      if (!m || code < 100) {
        return new BadCgiHeaderError(`CGI Status is not a 3-digit code 100-999: ${quote(value)}`);
      }
      // The status a CGI response gives is its final one (RFC 3875 §6.3.3): an informational
      // 1xx cannot be one, and 101 would have the client switch protocols on a connection the
      // app does not hold. Relayed, the client waits for a response that never comes.
      if (code < 200) {
        return new BadCgiHeaderError(`CGI Status ${code} is informational, not a final status (a CGI response cannot switch protocols): ${quote(value)}`);
      }
      // Several Status lines: the last one wins, as Apache's CGI header scanner does.
      this.status = code;
      const reason = m[2];
      this.reason = reason !== undefined && reason.length > 0 ? reason : undefined;
      return undefined;
    }
    if (lower === 'location') this.location = value;
    this.headers.push([name, value]);
    return undefined;
  }

  private tooLarge(): CgiParseResult {
    this.partial = [];
    return this.fail(
      new LimitError(`CGI header block exceeds ${this.maxHeaderBytes} bytes`, this.maxHeaderBytes),
    );
  }

  private fail(err: BadCgiHeaderError | LimitError): CgiParseResult {
    this.error = err;
    return { error: err };
  }
}
