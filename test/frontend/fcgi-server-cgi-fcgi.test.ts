/**
 * The FastCGI server driven by libfcgi's own client, cgi-fcgi (Debian libfcgi-bin): its
 * environment becomes PARAMS, its stdin becomes STDIN (CONTENT_LENGTH bytes, and — libfcgi
 * 2.4 — no empty STDIN record once it has read that many, so the handler must answer without
 * waiting for the end of the body), STDOUT is printed, STDERR goes to its stderr, and its exit
 * status is END_REQUEST's appStatus. It never sets FCGI_KEEP_CONN and waits for END_REQUEST.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FcgiServer, type FcgiHandler } from '../../src/frontend/fcgi-server';
import { memoryLogger, tempDir } from '../helpers/fixtures';

const CGI_FCGI = '/usr/bin/cgi-fcgi';

const servers: FcgiServer[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.destroy()));
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs cgi-fcgi with exactly `env` as its environment (so exactly those PARAMS). */
function cgiFcgi(connect: string, env: Record<string, string>, input?: Buffer): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(CGI_FCGI, ['-bind', '-connect', connect], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => undefined);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() });
    });
    child.stdin.end(input);
  });
}

/** Answers with the params it got, one NAME=value line each, in arrival order. */
const dumpParams: FcgiHandler = (req, res) => {
  req.stdin.resume();
  const lines = req.params.map(([k, v]) => `${k}=${v}\n`).join('');
  res.stdout(Buffer.from(`Content-Type: text/plain\r\nX-Role: ${req.role}\r\n\r\n${lines}`, 'latin1'));
  res.end();
};

/** Reads CONTENT_LENGTH bytes of body (cgi-fcgi sends no STDIN terminator) and answers their md5. */
const bodyDigest: FcgiHandler = (req, res) => {
  const want = Number(req.params.find(([k]) => k === 'CONTENT_LENGTH')?.[1] ?? '0');
  const hash = crypto.createHash('md5');
  let got = 0;
  const answer = (): void => {
    res.stdout(Buffer.from(`Content-Type: text/plain\r\n\r\nlength=${got} md5=${hash.digest('hex')}\n`));
    res.end();
  };
  if (want === 0) {
    req.stdin.resume();
    answer();
    return;
  }
  req.stdin.on('data', (c: Buffer) => {
    hash.update(c);
    got += c.length;
    if (got >= want) answer();
  });
};

async function listen(handler: FcgiHandler, kind: 'tcp' | 'unix'): Promise<{ server: FcgiServer; connect: string }> {
  const dir = tempDir('fcgipm-cgifcgi-');
  dirs.push(dir);
  const sock = path.join(dir, 'fcgi.sock');
  const server = new FcgiServer({
    listen: kind === 'unix' ? { kind: 'unix', path: sock } : { kind: 'tcp', host: '127.0.0.1', port: 0 },
    handler,
    logger: memoryLogger().logger,
  });
  servers.push(server);
  const bound = await server.listen();
  return { server, connect: bound.kind === 'unix' ? bound.path : `127.0.0.1:${bound.port}` };
}

describe.each(['tcp', 'unix'] as const)('cgi-fcgi over %s', (kind) => {
  test('environment arrives as PARAMS and STDOUT is printed', async () => {
    const { connect } = await listen(dumpParams, kind);
    const env = {
      REQUEST_METHOD: 'GET',
      SCRIPT_FILENAME: '/x',
      QUERY_STRING: 'a=1&b=%20',
      HTTP_X_LONG: 'v'.repeat(20_000),
    };
    const run = await cgiFcgi(connect, env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const text = run.stdout.toString('latin1');
    const [head, body] = text.split('\r\n\r\n');
    expect(head).toBe('Content-Type: text/plain\r\nX-Role: 1');
    const got = new Map(
      body!
        .split('\n')
        .filter(Boolean)
        .map((l): [string, string] => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(got).toEqual(new Map(Object.entries(env)));
  });

  test('a 300 KiB body on stdin arrives whole (answered at CONTENT_LENGTH, no STDIN terminator needed)', async () => {
    const { connect } = await listen(bodyDigest, kind);
    const body = crypto.randomBytes(300 * 1024);
    const run = await cgiFcgi(
      connect,
      { REQUEST_METHOD: 'POST', SCRIPT_FILENAME: '/x', CONTENT_LENGTH: String(body.length), CONTENT_TYPE: 'application/octet-stream' },
      body,
    );
    expect(run.code).toBe(0);
    expect(run.stdout.toString()).toBe(
      `Content-Type: text/plain\r\n\r\nlength=${body.length} md5=${crypto.createHash('md5').update(body).digest('hex')}\n`,
    );
  });
});

describe('cgi-fcgi: status, stderr and failures', () => {
  test('appStatus becomes the exit status and STDERR goes to its stderr', async () => {
    const { connect } = await listen((req, res) => {
      req.stdin.resume();
      res.stderr(Buffer.from('PHP Notice: something\n'));
      res.stdout(Buffer.from('Status: 404 Not Found\r\n\r\nnope\n'));
      res.end(3);
    }, 'tcp');
    const run = await cgiFcgi(connect, { REQUEST_METHOD: 'GET', SCRIPT_FILENAME: '/x' });
    expect(run.code).toBe(3);
    expect(run.stderr).toBe('PHP Notice: something\n');
    expect(run.stdout.toString()).toBe('Status: 404 Not Found\r\n\r\nnope\n');
  });

  test('a throwing handler gives a 500 CGI response', async () => {
    const { connect } = await listen(() => {
      throw new Error('handler bug');
    }, 'unix');
    const run = await cgiFcgi(connect, { REQUEST_METHOD: 'GET', SCRIPT_FILENAME: '/x' });
    expect(run.code).toBe(1);
    expect(run.stdout.toString()).toMatch(/^Status: 500 Internal Server Error\r\nContent-Type: text\/plain\r\n/);
  });

  test('twenty concurrent cgi-fcgi clients are all answered, each on its own connection', async () => {
    const { connect } = await listen(bodyDigest, 'tcp');
    const bodies = Array.from({ length: 20 }, (_, i) => crypto.randomBytes(1000 + i * 5000));
    const runs = await Promise.all(
      bodies.map((b) => cgiFcgi(connect, { REQUEST_METHOD: 'POST', SCRIPT_FILENAME: '/x', CONTENT_LENGTH: String(b.length) }, b)),
    );
    runs.forEach((run, i) => {
      const b = bodies[i]!;
      expect(run.code).toBe(0);
      expect(run.stdout.toString()).toContain(`length=${b.length} md5=${crypto.createHash('md5').update(b).digest('hex')}`);
    });
  });
});
