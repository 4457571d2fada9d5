/**
 * The access log's line formats: Apache's combined format byte for byte (time stamp, "-" for
 * what is missing, ap_escape_logitem's escaping), fcgipm's appended fields, and the JSON lines.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AccessLog } from '../../src/frontend/access-log';
import { silentLogger } from '../../src/log';
import { tempDir } from '../helpers/fixtures';
import { clfTime, escapeLogItem, formatClfTime, formatCombined, formatJson, type AccessEntry } from '../../src/frontend/access-log-format';

// Apache's documentation example is 10/Oct/2000:13:55:36 -0700.
const APACHE_EXAMPLE_TIME = Date.UTC(2000, 9, 10, 20, 55, 36, 250);
/** The stamp in this machine's zone (fcgipm writes local time, as Apache does). */
const STAMP = clfTime(APACHE_EXAMPLE_TIME);

function entry(over: Partial<AccessEntry> = {}): AccessEntry {
  return {
    time: APACHE_EXAMPLE_TIME,
    remote: '127.0.0.1',
    user: 'frank',
    method: 'GET',
    uri: '/apache_pb.gif',
    protocol: 'HTTP/1.0',
    status: 200,
    bytes: 2326,
    referer: 'http://www.example.com/start.html',
    userAgent: 'Mozilla/4.08 [en] (Win98; I ;Nav)',
    durationMs: 12.3456,
    queueWaitMs: 3,
    pool: 'hello.fcgi',
    workerPid: 4242,
    ...over,
  };
}

describe('combined', () => {
  test("Apache's documented combined line, then duration, queue wait, pool and pid", () => {
    expect(formatCombined(entry())).toBe(
      `127.0.0.1 - frank ${STAMP} "GET /apache_pb.gif HTTP/1.0" 200 2326 ` +
        `"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)" 12.346 3 "hello.fcgi" 4242\n`,
    );
  });

  test('"-" for a missing user, referer, user agent, a zero body and fields no worker filled', () => {
    const line = formatCombined(
      entry({ user: undefined, referer: undefined, userAgent: undefined, bytes: 0, status: 404, queueWaitMs: undefined, pool: undefined, workerPid: undefined, durationMs: 0.1 }),
    );
    expect(line).toBe(`127.0.0.1 - - ${STAMP} "GET /apache_pb.gif HTTP/1.0" 404 - "-" "-" 0.100 - - -\n`);
  });

  test('a header sent empty stays empty, as Apache writes it', () => {
    expect(formatCombined(entry({ referer: '' }))).toContain(' 2326 "" "Mozilla');
  });

  test('quotes, backslashes, control and non-ASCII bytes in the request line and user agent are escaped as Apache does', () => {
    const line = formatCombined(
      entry({
        uri: '/a"b\\c\x01\x7f',
        userAgent: 'evil"\n127.0.0.1 - - [forged] "GET / HTTP/1.1" 200 1 "-" "-"\tcaf\xc3\xa9',
        referer: 'r\r\x08\x0b',
      }),
    );
    expect(line).toContain('"GET /a\\"b\\\\c\\x01\\x7f HTTP/1.0"');
    expect(line).toContain('"evil\\"\\n127.0.0.1 - - [forged] \\"GET / HTTP/1.1\\" 200 1 \\"-\\" \\"-\\"\\tcaf\\xc3\\xa9"');
    expect(line).toContain('"r\\r\\b\\v"');
    // One request, one line.
    expect(line.indexOf('\n')).toBe(line.length - 1);
  });

  test('escapeLogItem leaves printable ASCII alone and writes other bytes as lower-case \\xhh', () => {
    expect(escapeLogItem('plain /path?q=1&x=~')).toBe('plain /path?q=1&x=~');
    expect(escapeLogItem('\x00\x1b\xff')).toBe('\\x00\\x1b\\xff');
    // Not from HTTP (which is bytes), but a pool name could hold one: its UTF-8 bytes.
    expect(escapeLogItem('\u20ac')).toBe('\\xe2\\x82\\xac');
  });

  test("the time stamp is Apache's %t: day/month/year:hh:mm:ss and the zone's UTC offset", () => {
    expect(formatClfTime(APACHE_EXAMPLE_TIME, -7 * 60)).toBe('[10/Oct/2000:13:55:36 -0700]');
    expect(formatClfTime(Date.UTC(2000, 0, 2, 8, 4, 5), 5 * 60 + 30)).toBe('[02/Jan/2000:13:34:05 +0530]');
    expect(formatClfTime(Date.UTC(1999, 11, 31, 23, 59, 59), 0)).toBe('[31/Dec/1999:23:59:59 +0000]');
    // In the local zone, and a new text each second.
    const d = new Date(2024, 1, 29, 23, 59, 58, 999);
    expect(clfTime(d.getTime())).toMatch(/^\[29\/Feb\/2024:23:59:58 [+-]\d{4}\]$/);
    expect(clfTime(d.getTime() + 1)).toMatch(/^\[29\/Feb\/2024:23:59:59 [+-]\d{4}\]$/);
  });

  test('FastCGI requests without SERVER_PROTOCOL: the request line has two parts', () => {
    expect(formatCombined(entry({ protocol: '' }))).toContain('"GET /apache_pb.gif" 200');
  });
});

describe('json', () => {
  test('one object per line with every field named, absent ones null', () => {
    const text = formatJson(entry({ user: undefined, workerPid: undefined, userAgent: 'caf\xc3\xa9 "q"' }));
    expect(text.endsWith('\n')).toBe(true);
    expect(text.indexOf('\n')).toBe(text.length - 1);
    expect(JSON.parse(text)).toEqual({
      time: '2000-10-10T20:55:36.250Z',
      remote: '127.0.0.1',
      user: null,
      method: 'GET',
      uri: '/apache_pb.gif',
      protocol: 'HTTP/1.0',
      status: 200,
      bytes: 2326,
      referer: 'http://www.example.com/start.html',
      userAgent: 'café "q"',
      durationMs: 12.346,
      queueWaitMs: 3,
      pool: 'hello.fcgi',
      workerPid: null,
    });
  });

  test('a newline in a value cannot start a line of its own', () => {
    const text = formatJson(entry({ uri: '/x\n{"status":200}' }));
    expect(text.split('\n')).toHaveLength(2);
    expect((JSON.parse(text) as { uri: string }).uri).toBe('/x\n{"status":200}');
  });
});

test('AccessLog: close() writes every buffered line; destroy() closes at once and drops them; both idempotent', async () => {
  // Left to the run's temp root (test/helpers/temp-root.js): a destination destroyed while it
  // was still opening finishes its open (and close) in the background.
  const d = tempDir('fcgipm-access-');
  const kept = new AccessLog({ destination: path.join(d, 'kept.log'), format: 'combined', logger: silentLogger() });
  kept.write(entry());
  await kept.close();
  await kept.close();
  expect(fs.readFileSync(path.join(d, 'kept.log'), 'utf8').split('\n').filter(Boolean)).toHaveLength(1);

  const dropped = new AccessLog({ destination: path.join(d, 'dropped.log'), format: 'combined', logger: silentLogger() });
  dropped.write(entry());
  dropped.destroy();
  dropped.destroy();
  await dropped.close();
  dropped.write(entry());
  expect(fs.readFileSync(path.join(d, 'dropped.log'), 'utf8')).toBe('');
});


test('AccessLog: a new file, at start and after a rotation, is 0640 (query strings and client addresses are not for every local user)', async () => {
  const d = tempDir('fcgipm-access-');
  const file = path.join(d, 'access.log');
  const umask = process.umask(0o022);
  try {
    const log = new AccessLog({ destination: file, format: 'combined', logger: silentLogger() });
    expect(fs.statSync(file).mode & 0o777).toBe(0o640);
    log.write(entry());
    // logrotate renames the file; reopen() creates the next one.
    fs.renameSync(file, `${file}.1`);
    log.reopen();
    log.write(entry());
    await log.close();
    expect(fs.statSync(file).mode & 0o777).toBe(0o640);
    const lines = [file, `${file}.1`].flatMap((f) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean));
    expect(lines).toHaveLength(2);
  } finally {
    process.umask(umask);
    fs.rmSync(d, { recursive: true, force: true });
  }
});
