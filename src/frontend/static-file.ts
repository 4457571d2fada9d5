import type { IncomingMessage, ServerResponse } from 'node:http';
import send from 'send';
import { bytesToText } from './byte-string';

/**
 * A file under a document root that no handler runs, served as Apache's own file serving
 * would, by the `send` package (Express's static-file engine): Content-Type by suffix,
 * Content-Length, Last-Modified and ETag, conditional GET (If-None-Match, If-Modified-Since:
 * 304), Range requests (206, 416), HEAD, and the body streamed from the file in chunks, never
 * held in memory. Names starting with "." anywhere in the path are refused with 403 (Apache's
 * default config denies .ht*). The router has already confined the path to the document
 * root; `fail` answers what send refuses (403, 404, 416 come from send itself otherwise).
 */
export function serveStaticFile(
  req: IncomingMessage,
  res: ServerResponse,
  filename: string,
  fail: (status: number, reason: string) => void,
): void {
  const text = bytesToText(filename);
  if (text === undefined) {
    fail(403, 'file name is not UTF-8');
    return;
  }
  // send() takes a URL-style path and decodes it: each segment is encoded so that "%" or "?"
  // in a file name stays itself.
  const encoded = text
    .split('/')
    .map((segment) => encodeURIComponent(segment))
    .join('/');
  send(req, encoded, { dotfiles: 'deny', index: false, etag: true, lastModified: true, acceptRanges: true })
    .on('error', (err: { status?: number; message?: string }) => {
      const status = typeof err.status === 'number' ? err.status : 500;
      fail(status, status === 404 ? 'no such file' : status === 403 ? 'forbidden' : (err.message ?? 'cannot read the file'));
    })
    .pipe(res);
}
