import path from 'node:path';
import type { ListenTarget } from './types';
import { showValue, type UnitResult } from './units';

/** sun_path holds 108 bytes with its NUL. */
const SUN_PATH_MAX = 107;

/**
 * The one parser of listen addresses, for the YAML file and the command line alike.
 * Relative Unix paths are resolved against `dir` (the config file's directory, or the
 * current directory for a flag).
 */
/* "off", "HOST:PORT", "[::1]:PORT", ":PORT" (all interfaces), "PORT" (loopback) or "unix:/path". */
export function parseListen(value: unknown, dir: string): UnitResult<ListenTarget | undefined> {
  if (value === false || value === 'off') return { ok: true, value: undefined };
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string') return { ok: false, error: `expected HOST:PORT, unix:/path or "off", got ${showValue(value)}` };
  if (text.startsWith('unix:')) {
    const p = text.slice('unix:'.length);
    if (p === '') return { ok: false, error: 'expected unix:/path/to/socket, the path is missing' };
    const full = path.resolve(dir, p);
    if (Buffer.byteLength(full) > SUN_PATH_MAX) return { ok: false, error: `Unix socket path ${full} is longer than ${SUN_PATH_MAX} bytes` };
    return { ok: true, value: { kind: 'unix', path: full } };
  }
  let host = '127.0.0.1';
  let portText = text;
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (bracket) {
    host = bracket[1] ?? host;
    portText = bracket[2] ?? '';
  } else if (text.includes(':')) {
    const i = text.lastIndexOf(':');
    host = text.slice(0, i) || '0.0.0.0';
    portText = text.slice(i + 1);
  }
  if (!/^\d+$/.test(portText) || Number(portText) > 65535 || /\s/.test(host)) {
    return { ok: false, error: `expected HOST:PORT, unix:/path or "off", got ${showValue(value)}` };
  }
  return { ok: true, value: { kind: 'tcp', host, port: Number(portText) } };
}

