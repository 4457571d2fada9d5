import http from 'node:http';
import { InvalidArgumentError } from '../errors';
import { readAdminToken } from '../status/admin-token';
import type { ManagerSnapshot } from '../pm/manager';
import { parseListenAddress, type ListenAddress } from './run-args';
import { unknownOption } from './unknown-option';

/** Where `fcgipm status` looks when --admin is not given; pair it with `run --admin 127.0.0.1:9180`. */
const DEFAULT_STATUS_ADMIN: ListenAddress = { host: '127.0.0.1', port: 9180 };

export const STATUS_USAGE = `usage: fcgipm status [--admin HOST:PORT] [--admin-token-file PATH] [--json]

Prints the scoreboard of a running fcgipm, read from its admin listener
(fcgipm run --admin HOST:PORT). Default --admin 127.0.0.1:9180 (not 9000, the port
php-fpm and most FastCGI setups listen on).

  --admin HOST:PORT   the admin listener to ask
  --admin-token-file PATH
                      the token file the listener was started with (run or serve
                      --admin-token-file, listen.adminTokenFile): sent as a bearer token
  --json              print /status.json as it is
`;

export interface StatusArgs {
  readonly admin: ListenAddress;
  readonly json: boolean;
  /** The bearer token to send, read from --admin-token-file. */
  readonly token?: Buffer;
}

export function parseStatusArgs(argv: readonly string[]): StatusArgs {
  let admin = DEFAULT_STATUS_ADMIN;
  let json = false;
  let token: Buffer | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    if (arg === '--json') json = true;
    else if (arg === '--admin' || arg.startsWith('--admin=')) {
      const v = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new InvalidArgumentError('--admin: missing value');
      admin = parseListenAddress(v, '--admin');
    } else if (arg === '--admin-token-file' || arg.startsWith('--admin-token-file=')) {
      const v = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new InvalidArgumentError('--admin-token-file: missing value');
      token = readAdminToken(v);
    } else throw new InvalidArgumentError(unknownOption(arg, STATUS_USAGE));
  }
  return { admin, json, ...(token ? { token } : {}) };
}

/**
 * The status JSON as fcgipm's admin listener gives it, or undefined when the text is not that
 * (another server on the port answered /status.json).
 */
export function parseStatus(body: string): ManagerSnapshot | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray((parsed as { pools?: unknown }).pools)) return undefined;
  return parsed as ManagerSnapshot;
}

export function fetchStatus(admin: ListenAddress, timeoutMs = 5_000, token?: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const host = admin.host.includes(':') ? `[${admin.host}]` : admin.host;
    const headers = token ? { authorization: `Bearer ${token.toString('utf8')}` } : {};
    const req = http.get(`http://${host}:${admin.port}/status.json`, { timeout: timeoutMs, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        if (res.statusCode === 200) resolve(body);
        else if (res.statusCode === 401) reject(new Error(token ? 'HTTP 401: the token was refused (is it the file fcgipm was started with?)' : 'HTTP 401: the admin listener asks for a token; give --admin-token-file'));
        else reject(new Error(`HTTP ${String(res.statusCode)}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ').trimEnd()).join('\n');
}

/** The scoreboard as an operator reads it: one block per pool, one line per worker. */
export function formatStatus(s: ManagerSnapshot, now = Date.now()): string {
  const out: string[] = [
    `fcgipm pid ${s.pid}, generation ${s.generation}, up ${ago(s.startedAt, now)}, ${s.totalProcesses}/${s.maxProcesses} processes`,
  ];
  for (const p of s.pools) {
    out.push(
      '',
      `pool ${p.name} (${p.mode}, generation ${p.generation}): ${p.totalProcesses} processes (${p.idleProcesses} idle, ${p.activeProcesses} busy), min ${p.minProcesses}, max ${p.maxProcesses}`,
      `  accepted ${p.accepted}, completed ${p.completed}, queued ${p.queued} (max ${p.maxQueued}), replayed ${p.replayed}, 502 ${p.responses502}, 503 ${p.responses503}, 504 ${p.responses504}, max reached ${p.maxProcessesReached}, slow ${p.slowRequests ?? 0}`,
      `  command ${p.command}`,
    );
    const rows = [['  PID', 'STATE', 'GEN', 'REQUESTS', 'UP', 'CURRENT']];
    for (const w of p.processes) {
      const cur = w.currentRequest ? `${w.currentRequest.method} ${w.currentRequest.uri} (${ago(w.currentRequest.startedAt, now)})` : '';
      // A shared-socket worker: "+N" processes beside it, and its slots in use.
      const pid = `  ${String(w.pid ?? '-')}${w.siblings.length > 0 ? ` +${w.siblings.length}` : ''}`;
      const state = w.slots > 1 ? `${w.state} ${w.active}/${w.slots}` : w.state;
      rows.push([pid, state, String(w.generation), String(w.requests), ago(w.startedAt, now), cur]);
    }
    if (rows.length > 1) out.push(table(rows));
  }
  return `${out.join('\n')}\n`;
}
