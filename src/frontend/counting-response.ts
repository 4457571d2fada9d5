import { ServerResponse, type IncomingMessage } from 'node:http';

type WriteCallback = (error: Error | null | undefined) => void;

function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

/**
 * A ServerResponse that counts the body bytes handed to it (Apache's %b: headers excluded,
 * before chunked framing), whoever writes them — the CGI response writer, the static file
 * stream, a simple error page. Node keeps no such count. The HTTP front end uses this class
 * only when an access log is on; without one it pays nothing.
 *
 * Node discards what is written to a HEAD response, a 204 or a 304; the caller accounts for
 * those (it knows the method and the status).
 */
export class CountingResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  bodyBytes = 0;

  override write(chunk: unknown, encoding?: BufferEncoding | WriteCallback, callback?: WriteCallback): boolean {
    this.bodyBytes += byteLength(chunk, encoding);
    return super.write(chunk, encoding as BufferEncoding, callback);
  }

  override end(chunk?: unknown, encoding?: BufferEncoding | (() => void), callback?: () => void): this {
    this.bodyBytes += byteLength(chunk, encoding);
    return super.end(chunk, encoding as BufferEncoding, callback);
  }
}
