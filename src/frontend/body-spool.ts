import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { BodyTooLargeError, ClientAbortedError, ClientTimeoutError, SpoolError, type FcgipmError } from '../errors';

export interface SpoolOptions {
  /** Bytes kept in memory before the body moves to a temp file (FcgidMaxRequestInMem). */
  readonly memoryLimit: number;
  /** Largest body accepted; more → BodyTooLargeError (413). */
  readonly maxBytes: number;
  readonly tmpDir?: string;
  /**
   * Longest pause between two reads of the body (nginx's client_body_timeout: not the whole
   * body's time); then ClientTimeoutError (408). 0 or absent: no limit.
   */
  readonly idleTimeoutMs?: number;
}

export type SpooledBody =
  | { readonly kind: 'buffer'; readonly data: Buffer; readonly length: number; dispose(): void }
  | { readonly kind: 'file'; readonly path: string; readonly length: number; dispose(): void };

/**
 * Reads a body of unknown length (HTTP/1.1 chunked) to the end so that CONTENT_LENGTH can be
 * sent, as RFC 3875 §4.1.2 requires: memory up to memoryLimit, then a private temp file
 * (mode 0600, removed by dispose()). A body that exceeds maxBytes rejects at once; so does
 * one whose client pauses longer than idleTimeoutMs.
 */
export function spoolBody(stream: Readable, options: SpoolOptions): Promise<SpooledBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let file: { path: string; fd: number; dir: string } | undefined;
    let done = false;
    const idleMs = options.idleTimeoutMs ?? 0;
    // One timer refreshed on every read: a chunk costs a re-arm, not a new timer.
    const idle =
      idleMs > 0
        ? setTimeout(() => fail(new ClientTimeoutError(`no request body bytes from the client for ${idleMs} ms`)), idleMs)
        : undefined;

    const cleanupFile = (): void => {
      if (!file) return;
      try {
        fs.closeSync(file.fd);
      } catch {
        // already closed
      }
      fs.rmSync(file.dir, { recursive: true, force: true });
    };
    const fail = (err: FcgipmError): void => {
      if (done) return;
      done = true;
      clearTimeout(idle);
      stream.off('data', onData);
      cleanupFile();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      idle?.refresh();
      length += chunk.length;
      if (length > options.maxBytes) {
        fail(new BodyTooLargeError(`request body exceeds the limit of ${options.maxBytes} bytes`));
        // Keep reading (and discarding) so the 413 can be sent on a healthy connection.
        stream.resume();
        return;
      }
      if (!file && length <= options.memoryLimit) {
        chunks.push(chunk);
        return;
      }
      // What is being written, for the operator: the temp file, or its directory until it exists.
      let target = path.join(options.tmpDir ?? os.tmpdir(), 'fcgipm-body-*');
      try {
        if (!file) {
          const dir = fs.mkdtempSync(path.join(options.tmpDir ?? os.tmpdir(), 'fcgipm-body-'));
          const p = path.join(dir, 'body');
          target = p;
          file = { dir, path: p, fd: fs.openSync(p, 'wx', 0o600) };
          for (const c of chunks) fs.writeSync(file.fd, c);
          chunks.length = 0;
        }
        target = file.path;
        // Synchronous writes keep ordering simple; a page-cache write of one chunk is cheap.
        fs.writeSync(file.fd, chunk);
      } catch (err) {
        // A full disk (ENOSPC) is the server's fault, not the request's: 500, as nginx answers
        // when client_body_temp_path is full. The log line names the file and the errno.
        fail(new SpoolError(`cannot spool request body to ${target}: ${(err as Error).message}`, err));
        // Keep reading (and discarding) so the 500 goes out on a connection still in step.
        stream.resume();
      }
    };
    stream.on('data', onData);
    stream.once('error', () => fail(new ClientAbortedError('client went away while sending the body')));
    stream.once('close', () => {
      if (!done && !stream.readableEnded) fail(new ClientAbortedError('client went away while sending the body'));
    });
    stream.once('end', () => {
      if (done) return;
      done = true;
      clearTimeout(idle);
      if (file) {
        fs.closeSync(file.fd);
        const f = file;
        resolve({ kind: 'file', path: f.path, length, dispose: () => fs.rmSync(f.dir, { recursive: true, force: true }) });
      } else {
        resolve({ kind: 'buffer', data: Buffer.concat(chunks, length), length, dispose: () => undefined });
      }
    });
  });
}
