'use strict';
/**
 * Record decoding throughput: fcgipm's RecordDecoder against fastcgi-parser 0.1.5 on the same
 * byte streams cut into the same 64 KiB chunks (what a Node socket hands out per 'data' event).
 *
 *   npx tsc -p tsconfig.build.json && node bench/protocol.js
 *
 * Each parser runs in its fastest faithful mode: ours hands out content views; fastcgi-parser
 * runs with encoding 'binary' (onBody views of its internal buffer, no string decoding). For
 * PARAMS both produce the name-value pairs: ours through ParamsCollector, theirs through
 * onParam. Per workload: one warm-up pass each, then alternating passes until each parser has
 * at least 5 and 1 s; the median pass counts.
 */
const path = require('node:path');
const dist = path.join(__dirname, '..', 'dist', 'protocol');
const { RecordDecoder } = require(path.join(dist, 'record-decoder.js'));
const { ParamsCollector } = require(path.join(dist, 'params-collector.js'));
const enc = require(path.join(dist, 'encoder.js'));
const { RecordType, Role } = require(path.join(dist, 'constants.js'));
const fastcgi = require('fastcgi-parser');

const CHUNK = 65536;
const REQUESTS = 1000;

function responses(bodySize) {
  const body = Buffer.alloc(bodySize);
  for (let i = 0; i < bodySize; i++) body[i] = (i * 31) & 0xff;
  const one = Buffer.concat([
    enc.encodeStream(RecordType.STDOUT, 1, body),
    enc.encodeStreamEnd(RecordType.STDOUT, 1),
    enc.encodeEndRequest(1, 0, 0),
  ]);
  return Buffer.concat(Array.from({ length: REQUESTS }, () => one));
}

/** A php-fpm-style request: ~40 CGI variables, no body. */
function paramsRequests() {
  const params = [
    ['GATEWAY_INTERFACE', 'CGI/1.1'],
    ['SERVER_SOFTWARE', 'fcgipm/0.1.0'],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['SERVER_NAME', 'www.example.com'],
    ['SERVER_ADDR', '10.0.0.1'],
    ['SERVER_PORT', '443'],
    ['REMOTE_ADDR', '203.0.113.7'],
    ['REMOTE_PORT', '51234'],
    ['REQUEST_SCHEME', 'https'],
    ['HTTPS', 'on'],
    ['REQUEST_METHOD', 'GET'],
    ['REQUEST_URI', '/index.php/catalog/item?id=12345&sort=price&page=3'],
    ['DOCUMENT_URI', '/index.php'],
    ['DOCUMENT_ROOT', '/srv/www/shop/public'],
    ['SCRIPT_NAME', '/index.php'],
    ['SCRIPT_FILENAME', '/srv/www/shop/public/index.php'],
    ['PATH_INFO', '/catalog/item'],
    ['PATH_TRANSLATED', '/srv/www/shop/public/catalog/item'],
    ['QUERY_STRING', 'id=12345&sort=price&page=3'],
    ['CONTENT_TYPE', ''],
    ['CONTENT_LENGTH', ''],
    ['REDIRECT_STATUS', '200'],
    ['HTTP_HOST', 'www.example.com'],
    ['HTTP_USER_AGENT', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36'],
    ['HTTP_ACCEPT', 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8'],
    ['HTTP_ACCEPT_LANGUAGE', 'en-GB,en;q=0.9,fr;q=0.8'],
    ['HTTP_ACCEPT_ENCODING', 'gzip, deflate, br, zstd'],
    ['HTTP_REFERER', 'https://www.example.com/catalog?sort=price'],
    ['HTTP_COOKIE', `PHPSESSID=${'a1b2c3d4'.repeat(4)}; cart=${'x'.repeat(180)}; _ga=GA1.2.123456789.1700000000`],
    ['HTTP_CONNECTION', 'keep-alive'],
    ['HTTP_UPGRADE_INSECURE_REQUESTS', '1'],
    ['HTTP_SEC_FETCH_DEST', 'document'],
    ['HTTP_SEC_FETCH_MODE', 'navigate'],
    ['HTTP_SEC_FETCH_SITE', 'same-origin'],
    ['HTTP_CACHE_CONTROL', 'max-age=0'],
    ['HTTP_X_FORWARDED_FOR', '198.51.100.23, 203.0.113.7'],
    ['HTTP_X_REQUEST_ID', 'f3a9c2e1-5b7d-4e8f-9a0b-1c2d3e4f5a6b'],
    ['FCGI_ROLE', 'RESPONDER'],
  ];
  const one = Buffer.concat([
    enc.encodeBeginRequest(1, Role.RESPONDER, true),
    enc.encodeParams(1, params),
    enc.encodeStreamEnd(RecordType.STDIN, 1),
  ]);
  return Buffer.concat(Array.from({ length: REQUESTS }, () => one));
}

function chunk(buf) {
  const out = [];
  for (let i = 0; i < buf.length; i += CHUNK) out.push(buf.subarray(i, i + CHUNK));
  return out;
}

/** One pass of our decoder; returns [records, content bytes, pairs]. */
function runOurs(chunks) {
  let records = 0;
  let bytes = 0;
  let pairs = 0;
  let collector;
  const decoder = new RecordDecoder((r) => {
    records++;
    bytes += r.content.length;
    if (r.type === RecordType.PARAMS) {
      collector ??= new ParamsCollector({ maxBytes: 1 << 20 });
      const got = collector.push(r.content);
      if (Array.isArray(got)) {
        pairs += got.length;
        collector = undefined;
      } else if (got) throw got;
    }
  });
  for (const c of chunks) {
    const err = decoder.push(c);
    if (err) throw err;
  }
  return [records, bytes, pairs];
}

function runTheirs(chunks) {
  let records = 0;
  let bytes = 0;
  let pairs = 0;
  const parser = new fastcgi.parser();
  parser.encoding = 'binary';
  parser.onRecord = (r) => {
    records++;
    bytes += r.header.contentLength;
  };
  parser.onParam = () => {
    pairs++;
  };
  parser.onError = (err) => {
    throw err;
  };
  for (const c of chunks) parser.execute(c);
  return [records, bytes, pairs];
}

/**
 * Alternates passes of the two parsers (so a noisy neighbour slows both alike) until each has
 * at least 5 passes and 1 s; returns the median pass time of each.
 */
function race(fns, chunks) {
  const times = fns.map(() => []);
  const results = fns.map((fn) => fn(chunks));
  const spent = fns.map(() => 0);
  while (times.some((t, i) => t.length < 5 || spent[i] < 1)) {
    fns.forEach((fn, i) => {
      const t0 = process.hrtime.bigint();
      fn(chunks);
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      times[i].push(s);
      spent[i] += s;
    });
  }
  return times.map((t, i) => {
    t.sort((a, b) => a - b);
    return { seconds: t[t.length >> 1], result: results[i] };
  });
}

const workloads = [
  ['1000 responses, 4 KiB STDOUT', responses(4096)],
  ['1000 responses, 64 KiB STDOUT', responses(65536)],
  ['1000 requests, 38 CGI params', paramsRequests()],
];

const rows = [];
for (const [name, stream] of workloads) {
  const chunks = chunk(stream);
  const [ours, theirs] = race([runOurs, runTheirs], chunks);
  if (ours.result.join() !== theirs.result.join()) {
    throw new Error(`${name}: parsers disagree: ours ${ours.result} theirs ${theirs.result}`);
  }
  const mb = stream.length / 1e6;
  const records = ours.result[0];
  for (const [who, m] of [
    ['fcgipm RecordDecoder', ours],
    ['fastcgi-parser 0.1.5', theirs],
  ]) {
    rows.push({
      workload: `${name} (${mb.toFixed(1)} MB, ${records} records)`,
      parser: who,
      'MB/s': (mb / m.seconds).toFixed(0),
      'records/s': Math.round(records / m.seconds).toLocaleString('en-US'),
      'vs fastcgi-parser': `${(theirs.seconds / m.seconds).toFixed(1)}x`,
    });
  }
}

const cols = Object.keys(rows[0]);
const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(width[i])).join(' | ')} |`;
process.stdout.write(`node ${process.version}, ${CHUNK}-byte chunks\n`);
process.stdout.write(`${line(cols)}\n|${width.map((w) => '-'.repeat(w + 2)).join('|')}|\n`);
for (const r of rows) process.stdout.write(`${line(cols.map((c) => r[c]))}\n`);
