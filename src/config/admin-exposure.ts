/**
 * Who may reach the admin listener: an address off loopback must come with a token file
 * (status/admin-token.ts), or fcgipm refuses to start. Pure: the server asks it once the
 * command line's --admin and --admin-token-file are over the file's keys (and again for a
 * socket systemd bound), check-config for the file alone.
 */
import net from 'node:net';
import { AdminAccessError } from '../errors';

const TOKEN_OPTION = '--admin-token-file / listen.adminTokenFile';
const ADDRESS_OPTION = '--admin / listen.admin';

/** 127.0.0.0/8, ::1, an IPv4-mapped loopback, or "localhost": reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice('::ffff:'.length) : h;
  return net.isIPv4(v4) && v4.startsWith('127.');
}

/**
 * An admin listener off loopback with no token is refused: /status.json shows every request's
 * URI and /metrics the load, to whoever reaches the port. The message gives both ways out.
 */
export function checkAdminExposure(host: string, port: number, hasToken: boolean): void {
  const problem = adminExposureProblem(host, port, hasToken);
  if (problem !== undefined) throw new AdminAccessError(problem);
}

/** The refusal's words, or undefined when the listener is loopback or has a token. */
export function adminExposureProblem(host: string, port: number, hasToken: boolean): string | undefined {
  if (hasToken || isLoopbackHost(host)) return undefined;
  return (
    `admin listener ${host.includes(':') ? `[${host}]` : host}:${port} (${ADDRESS_OPTION}) is not on loopback and has no token: ` +
    `bind it to 127.0.0.1 or [::1], or give a token file (${TOKEN_OPTION}) so that every endpoint but /healthz asks for it`
  );
}
