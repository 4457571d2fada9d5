import { BadCgiHeaderError, InvalidArgumentError, LimitError } from '../../src/errors';
import { CgiHeaderParser, type CgiHead, type CgiParseResult } from '../../src/protocol/cgi-response';
import { byteByByte, cutAt } from './support';

function parse(text: string | Buffer, max = 8192): CgiParseResult {
  const p = new CgiHeaderParser({ maxHeaderBytes: max });
  return p.push(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
}

function head(text: string): { head: CgiHead; rest: string } {
  const r = parse(text);
  if (!('done' in r) || !r.done) throw new Error(`not done: ${JSON.stringify(r)}`);
  return { head: r.head, rest: r.rest.toString('latin1') };
}

function errorOf(text: string, max = 8192): BadCgiHeaderError | LimitError {
  const r = parse(text, max);
  if (!('error' in r)) throw new Error(`no error: ${JSON.stringify(r)}`);
  return r.error;
}

/** Feeds chunks; returns the final result with `rest` joined over all later chunks. */
function feed(chunks: Buffer[], max = 8192): { result: CgiParseResult; body: string } {
  const p = new CgiHeaderParser({ maxHeaderBytes: max });
  let result: CgiParseResult = { done: false };
  const body: Buffer[] = [];
  for (const chunk of chunks) {
    const r = p.push(chunk);
    if ('error' in r) return { result: r, body: '' };
    if (r.done) {
      if (!('done' in result && result.done)) result = r;
      body.push(r.rest);
    }
  }
  return { result, body: Buffer.concat(body).toString('latin1') };
}

describe('CgiHeaderParser (RFC 3875 §6)', () => {
  it('parses headers, the blank line and hands back the body bytes', () => {
    const { head: h, rest } = head('Content-Type: text/html\r\nX-Powered-By: PHP/8.2\r\n\r\n<html>');
    expect(h).toEqual({
      status: undefined,
      reason: undefined,
      headers: [
        ['Content-Type', 'text/html'],
        ['X-Powered-By', 'PHP/8.2'],
      ],
      location: undefined,
    });
    expect(rest).toBe('<html>');
  });

  it.each([
    ['Status: 404 Not Found', 404, 'Not Found'],
    ['Status: 404', 404, undefined],
    ['Status:404', 404, undefined],
    ['status:   503   Service   Unavailable  ', 503, 'Service   Unavailable'],
    ['STATUS: 999 x', 999, 'x'],
    ['Status: 200', 200, undefined],
    ['Status: 200\t OK', 200, 'OK'],
  ])('%j gives status %i, reason %j, and is not kept in headers', (line, status, reason) => {
    const { head: h } = head(`${line}\nContent-Type: text/plain\n\n`);
    expect(h.status).toBe(status);
    expect(h.reason).toBe(reason);
    expect(h.headers).toEqual([['Content-Type', 'text/plain']]);
  });

  it.each(['Status: 99', 'Status: 099 Low', 'Status: 4040', 'Status: abc', 'Status: 404Not Found', 'Status:', 'Status: -20'])(
    '%j is a BadCgiHeaderError',
    (line) => {
      const err = errorOf(`${line}\n\n`);
      expect(err).toBeInstanceOf(BadCgiHeaderError);
      expect(err.message).toMatch(/Status is not a 3-digit code 100-999/);
    },
  );

  it.each(['Status: 101 Switching Protocols', 'Status: 100 Continue', 'Status: 199'])('%j (informational) is a BadCgiHeaderError', (line) => {
    const err = errorOf(`${line}\nUpgrade: websocket\n\nbody`);
    expect(err).toBeInstanceOf(BadCgiHeaderError);
    expect(err.message).toMatch(/is informational, not a final status/);
  });

  it('the last Status wins', () => {
    expect(head('Status: 500\nStatus: 302 Found\n\n').head).toMatchObject({ status: 302, reason: 'Found' });
  });

  it('Location is reported and kept in headers', () => {
    const { head: h } = head('Location: /elsewhere\r\n\r\n');
    expect(h.location).toBe('/elsewhere');
    expect(h.headers).toEqual([['Location', '/elsewhere']]);
    expect(h.status).toBeUndefined();
    expect(head('location: http://example.com/x?y\n\n').head.location).toBe('http://example.com/x?y');
  });

  it('two Set-Cookie headers stay two entries, in order, names as sent', () => {
    const { head: h } = head('Set-Cookie: a=1; Path=/\r\nset-cookie: b=2\r\nContent-Type: text/plain\r\n\r\n');
    expect(h.headers).toEqual([
      ['Set-Cookie', 'a=1; Path=/'],
      ['set-cookie', 'b=2'],
      ['Content-Type', 'text/plain'],
    ]);
  });

  it('folded continuation lines join the previous header with one space', () => {
    const { head: h } = head('X-Long: part one\r\n   part two\r\n\tpart three  \r\nX-Next: n\r\n\r\n');
    expect(h.headers).toEqual([
      ['X-Long', 'part one part two part three'],
      ['X-Next', 'n'],
    ]);
    expect(head('X-Empty:\n more\n\n').head.headers).toEqual([['X-Empty', 'more']]);
    expect(head('Status: 404\n Not Found\n\n').head).toMatchObject({ status: 404, reason: 'Not Found' });
  });

  it('a continuation line with no header before it is an error', () => {
    expect(errorOf(' orphan\n\n').message).toBe('CGI header continuation line with no header before it: " orphan"');
  });

  it('trims values of surrounding SP and HT only', () => {
    expect(head('X-A: \t v a l \t\r\n\n').head.headers).toEqual([['X-A', 'v a l']]);
    expect(head('X-B:\xa0nbsp\xa0\n\n').head.headers).toEqual([['X-B', '\xa0nbsp\xa0']]);
    expect(head('X-C:\n\n').head.headers).toEqual([['X-C', '']]);
  });

  it('mixes CRLF and LF line ends', () => {
    const { head: h, rest } = head('A: 1\nB: 2\r\nC: 3\n\r\nbody\r\n');
    expect(h.headers).toEqual([
      ['A', '1'],
      ['B', '2'],
      ['C', '3'],
    ]);
    expect(rest).toBe('body\r\n');
  });

  it('an immediately blank first line is an empty header block', () => {
    expect(head('\r\nbody')).toEqual({
      head: { status: undefined, reason: undefined, headers: [], location: undefined },
      rest: 'body',
    });
  });

  it('a line without a colon is a BadCgiHeaderError quoting it (at most 80 chars)', () => {
    const err = errorOf('Content-Type: text/html\r\n<html><body>oops, a body without headers\r\n\r\n');
    expect(err).toBeInstanceOf(BadCgiHeaderError);
    expect(err.code).toBe('FCGIPM_ERR_BAD_CGI_HEADER');
    expect(err.message).toBe(`CGI header line without ':': "<html><body>oops, a body without headers"`);
    const long = errorOf(`${'x'.repeat(200)}\n\n`);
    expect(long.message).toBe(`CGI header line without ':': "${'x'.repeat(80)}…"`);
  });

  it.each(['Bad Name: x', ': empty name', 'Ba(d: x', 'Na\x01me: x', 'Name\t: x'])('rejects a header name that is not a token: %j', (line) => {
    expect(errorOf(`Content-Type: a\n${line}\n\n`)).toBeInstanceOf(BadCgiHeaderError);
  });

  it('rejects control characters in a value (Node would refuse to send them)', () => {
    expect(errorOf('X-A: a\rb\n\n').message).toMatch(/control character/);
    expect(errorOf('X-A: a\x00b\n\n').message).toMatch(/control character/);
    expect(head('X-A: tab\there\n\n').head.headers).toEqual([['X-A', 'tab\there']]);
  });

  it('keeps bytes above 0x7f as latin1 chars', () => {
    const r = parse(Buffer.concat([Buffer.from('X-U: '), Buffer.from('é', 'utf8'), Buffer.from('\n\n')]));
    expect('done' in r && r.done && r.head.headers).toEqual([['X-U', '\xc3\xa9']]);
  });

  describe('incremental', () => {
    const block = 'Status: 302 Found\r\nLocation: /x\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-F: one\r\n two\n\r\nBODY';
    const bytes = Buffer.from(block, 'latin1');
    const whole = feed([bytes]);

    it('parses the same cut at every offset (including between CR and LF) and byte by byte', () => {
      expect(whole.body).toBe('BODY');
      expect(whole.result).toMatchObject({ done: true, head: { status: 302, location: '/x' } });
      for (let i = 0; i <= bytes.length; i++) {
        for (const j of [i, i + 1, i + 13]) {
          const got = feed(cutAt(bytes, [i, j]));
          expect('done' in got.result && got.result.done && got.result.head).toEqual(
            'done' in whole.result && whole.result.done && whole.result.head,
          );
          expect(got.body).toBe('BODY');
        }
      }
      expect(feed(byteByByte(bytes)).body).toBe('BODY');
    });

    it('a CR at the end of one chunk and LF at the start of the next end the line', () => {
      const p = new CgiHeaderParser({ maxHeaderBytes: 100 });
      expect(p.push(Buffer.from('A: 1\r'))).toEqual({ done: false });
      expect(p.push(Buffer.from('\n\r'))).toEqual({ done: false });
      const r = p.push(Buffer.from('\nrest'));
      expect(r).toMatchObject({ done: true, head: { headers: [['A', '1']] } });
      expect('done' in r && r.done && r.rest.toString()).toBe('rest');
    });

    it('after done, later chunks come back whole as rest', () => {
      const p = new CgiHeaderParser({ maxHeaderBytes: 100 });
      p.push(Buffer.from('A: 1\n\n'));
      const r = p.push(Buffer.from('more body'));
      expect('done' in r && r.done && r.rest.toString()).toBe('more body');
    });

    it('copies a partial line: the caller may reuse its chunk', () => {
      const p = new CgiHeaderParser({ maxHeaderBytes: 100 });
      const chunk = Buffer.from('X-A: value');
      p.push(chunk);
      chunk.fill(0x21);
      expect(p.push(Buffer.from('\n\n'))).toMatchObject({ head: { headers: [['X-A', 'value']] } });
    });

    it('is linear: 200 000 one-byte pushes of a 200 KB block take well under a second', () => {
      const big = Buffer.from(`${'X-Long: '}${'v'.repeat(200000)}\n\n`);
      const start = process.hrtime.bigint();
      const got = feed(byteByByte(big), 300000);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      expect('done' in got.result && got.result.done).toBe(true);
      expect(ms).toBeLessThan(2000);
    });
  });

  describe('end()', () => {
    it('names a missing blank line', () => {
      const p = new CgiHeaderParser({ maxHeaderBytes: 100 });
      p.push(Buffer.from('Content-Type: text/plain\r\n'));
      const err = p.end();
      expect(err).toBeInstanceOf(BadCgiHeaderError);
      expect(err.message).toBe('STDOUT ended inside the CGI header block, before the blank line that ends it');
    });

    it('says "no CGI header block" when nothing arrived', () => {
      const p = new CgiHeaderParser({ maxHeaderBytes: 100 });
      p.push(Buffer.alloc(0));
      expect(p.end().message).toBe('no CGI header block: the app sent no STDOUT');
    });

    it('returns the BadCgiHeaderError already found', () => {
      const p = new CgiHeaderParser({ maxHeaderBytes: 100 });
      const r = p.push(Buffer.from('nonsense\n'));
      expect('error' in r && p.end()).toBe('error' in r && r.error);
    });
  });

  describe('maxHeaderBytes', () => {
    it('counts the lines and the terminator', () => {
      const block = 'A: 1\r\nB: 2\r\n\r\n'; // 14 bytes
      expect(head(block).head.headers).toHaveLength(2);
      expect(parse(`${block}body that does not count`, 14)).toMatchObject({ done: true });
      const err = errorOf(block, 13);
      expect(err).toBeInstanceOf(LimitError);
      expect(err).toMatchObject({ code: 'FCGIPM_ERR_LIMIT', limit: 13, message: 'CGI header block exceeds 13 bytes' });
    });

    it('fails as soon as an unfinished block is over the limit, and stays failed', () => {
      const p = new CgiHeaderParser({ maxHeaderBytes: 10 });
      expect(p.push(Buffer.from('X-A: 12345'))).toEqual({ done: false });
      const r = p.push(Buffer.from('6'));
      expect('error' in r && r.error).toBeInstanceOf(LimitError);
      expect(p.push(Buffer.from('\n\n'))).toEqual(r);
    });

    it('same verdict at every cut', () => {
      const bytes = Buffer.from('Content-Type: text/plain\r\nX-Pad: 0123456789\r\n\r\nbody');
      for (const max of [40, 45, 46, 47, 48]) {
        const expected = feed([bytes], max).result;
        for (let i = 0; i <= bytes.length; i++) {
          const got = feed(cutAt(bytes, [i]), max).result;
          expect('error' in got).toBe('error' in expected);
        }
      }
      expect('error' in feed([bytes], 47).result).toBe(false);
      expect('error' in feed([bytes], 46).result).toBe(true);
    });

    it('throws InvalidArgumentError for a bad option', () => {
      expect(() => new CgiHeaderParser({ maxHeaderBytes: 0 })).toThrow(InvalidArgumentError);
    });
  });
});
