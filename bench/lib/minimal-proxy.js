'use strict';
/*
 * The least a Node FastCGI front end can do, for bench/node-floor.sh: an HTTP server that
 * sends every request, with a fixed PARAMS block, over one of at most 4 kept connections to
 * a FastCGI socket (FCGI_KEEP_CONN; requests beyond 4 wait in a queue), and answers with the
 * app's body as it is. No routing, no CGI variables from the request, no header parsing
 * beyond the blank line, no timeouts, no replay, no logging. Not a server to use: the
 * measure of what Node itself costs on the request path.
 *
 *   node bench/lib/minimal-proxy.js SOCKET PORT
 */
const http = require('node:http');
const net = require('node:net');

const [socketPath, port] = process.argv.slice(2);
const CONNECTIONS = 4;

function record(type, body) {
  const head = Buffer.from([1, type, 0, 1, body.length >> 8, body.length & 0xff, 0, 0]);
  return Buffer.concat([head, body]);
}
function pair(name, value) {
  return Buffer.concat([Buffer.from([name.length, value.length]), Buffer.from(name), Buffer.from(value)]);
}
const PARAMS = Buffer.concat(
  [
    ['GATEWAY_INTERFACE', 'CGI/1.1'],
    ['REQUEST_METHOD', 'GET'],
    ['SCRIPT_NAME', '/'],
    ['REQUEST_URI', '/'],
    ['QUERY_STRING', ''],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['SERVER_NAME', 'localhost'],
    ['SERVER_PORT', String(port)],
    ['REMOTE_ADDR', '127.0.0.1'],
    ['CONTENT_LENGTH', '0'],
  ].map(([n, v]) => pair(n, v)),
);
const REQUEST = Buffer.concat([record(1, Buffer.from([0, 1, 1, 0, 0, 0, 0, 0])), record(4, PARAMS), record(4, Buffer.alloc(0)), record(5, Buffer.alloc(0))]);

const idle = [];
const waiting = [];
let opened = 0;

function start(conn, res) {
  conn.res = res;
  conn.out = [];
  conn.write(REQUEST);
}

function onData(conn, data) {
  let buf = conn.rest ? Buffer.concat([conn.rest, data]) : data;
  let off = 0;
  while (buf.length - off >= 8) {
    const type = buf[off + 1];
    const length = buf.readUInt16BE(off + 4);
    const total = 8 + length + buf[off + 6];
    if (buf.length - off < total) break;
    if (type === 6 && length > 0) conn.out.push(buf.subarray(off + 8, off + 8 + length));
    off += total;
    if (type === 3) {
      const body = Buffer.concat(conn.out);
      const blank = body.indexOf('\r\n\r\n');
      conn.res.writeHead(200, { 'Content-Type': 'text/plain' });
      conn.res.end(body.subarray(blank + 4));
      const next = waiting.shift();
      if (next) start(conn, next);
      else idle.push(conn);
    }
  }
  conn.rest = off < buf.length ? buf.subarray(off) : undefined;
}

http
  .createServer((req, res) => {
    let conn = idle.pop();
    if (!conn && opened < CONNECTIONS) {
      opened += 1;
      conn = net.connect(socketPath);
      conn.on('data', (d) => onData(conn, d));
      conn.on('error', () => process.exit(1));
    }
    if (conn) start(conn, res);
    else waiting.push(res);
  })
  .listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
