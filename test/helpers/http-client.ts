import http from 'node:http';

export interface HttpResult {
  status: number;
  statusMessage: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  /** Body chunks as they arrived, for streaming assertions. */
  chunks: Buffer[];
}

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string | number>;
  /** Sent with Content-Length. */
  body?: Buffer | string;
  /** Sent with Transfer-Encoding: chunked, one write per element. */
  chunked?: Array<Buffer | string>;
  agent?: http.Agent | false;
}

/** One HTTP request to a loopback server; resolves with the whole response. */
export function httpRequest(url: string, options: HttpRequestOptions = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...(options.headers ?? {}) };
    if (options.body !== undefined) headers['content-length'] = Buffer.byteLength(options.body);
    const req = http.request(url, { method: options.method ?? 'GET', headers, agent: options.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          statusMessage: res.statusMessage ?? '',
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(chunks),
          chunks,
        }),
      );
    });
    req.on('error', reject);
    if (options.chunked) {
      for (const piece of options.chunked) req.write(piece);
      req.end();
    } else {
      req.end(options.body);
    }
  });
}

/** Parses the echo fixture's `env=1` dump: params section, then `--- environ ---`. */
export function parseEnvDump(text: string): { params: Map<string, string>; environ: Map<string, string> } {
  const params = new Map<string, string>();
  const environ = new Map<string, string>();
  let target = params;
  for (const line of text.split('\n')) {
    if (line === '--- environ ---') {
      target = environ;
      continue;
    }
    if (line === '') continue;
    const eq = line.indexOf('=');
    target.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return { params, environ };
}

/** "NAME=value" lines (the PHP test pages' output) as a map; the first "=" splits. */
export function kv(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of text.split('\n')) {
    const i = l.indexOf('=');
    if (i > 0) m.set(l.slice(0, i), l.slice(i + 1));
  }
  return m;
}
