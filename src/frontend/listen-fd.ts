import fs from 'node:fs';
import net from 'node:net';
import { createReuseportFd } from 'node-unix-socket';
import { InvalidArgumentError } from '../errors';
import { setCloexec } from '../spawn/native';

/**
 * A TCP listening socket bound with SO_REUSEADDR and SO_REUSEPORT (node-unix-socket), for
 * listeners that a second fcgipm must be able to bind while the first still serves: start
 * the new one, then SIGTERM the old, and the kernel spreads connections over both until the
 * old one has closed its socket — no refused connection during an upgrade.
 *
 * The fd is made close-on-exec here: node-unix-socket does not, and every descriptor fcgipm
 * opens must stay out of the workers (docs/architecture.md, "Descriptor hygiene").
 */
/** Linux >= 5.14: connections queued on a closing listener move to another of its group. */
const MIGRATE_REQ = '/proc/sys/net/ipv4/tcp_migrate_req';

/**
 * Whether connections waiting in a stopped instance's accept queue survive: without
 * net.ipv4.tcp_migrate_req=1 the kernel resets the few that were queued on the old socket
 * when it closes. undefined when the kernel lacks the setting.
 */
export function queuedConnectionsMigrate(): boolean | undefined {
  try {
    return fs.readFileSync(MIGRATE_REQ, 'utf8').trim() === '1';
  } catch {
    return undefined;
  }
}

export function listenReusePort(server: net.Server, host: string, port: number): Promise<net.AddressInfo> {
  return new Promise((resolve, reject) => {
    let fd: number;
    try {
      fd = createReuseportFd(port, host);
      setCloexec(fd, true);
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    server.once('error', reject);
    server.listen({ fd }, () => {
      server.off('error', reject);
      resolve(server.address() as net.AddressInfo);
    });
  });
}

/**
 * Listens on a descriptor that is already bound and listening (systemd socket activation).
 * It is made close-on-exec first: systemd hands it over without the flag, and workers must
 * never inherit a listener (docs/architecture.md, "Descriptor hygiene"). Resolves with the address, a
 * path for a Unix socket.
 */
export function listenOnFd(server: net.Server, fd: number): Promise<net.AddressInfo | string> {
  return new Promise((resolve, reject) => {
    try {
      setCloexec(fd, true);
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    server.once('error', reject);
    server.listen({ fd }, () => {
      server.off('error', reject);
      const a = server.address();
      // Node knows no path for a Unix socket it did not bind itself.
      resolve(a === null || a === '' ? unixSocketPath(fd) : a);
    });
  });
}

/** A TCP address from listenOnFd(); a Unix socket handed to a TCP-only listener is refused. */
export function tcpAddress(a: net.AddressInfo | string): net.AddressInfo {
  if (typeof a === 'string') throw new InvalidArgumentError(`the descriptor passed is a Unix socket (${a}); this listener takes TCP only`);
  return a;
}

/**
 * The path a Unix socket descriptor is bound to, from /proc/net/unix by its inode (Node has no
 * getsockname for pipes); "fd N" when it has none (an abstract or unnamed socket).
 */
export function unixSocketPath(fd: number): string {
  try {
    const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`));
    if (m) {
      for (const line of fs.readFileSync('/proc/net/unix', 'utf8').split('\n')) {
        const f = line.trim().split(/\s+/);
        if (f[6] === m[1] && f[7] !== undefined && f[7].startsWith('/')) return f[7];
      }
    }
  } catch {
    // No /proc: the descriptor number is all there is to show.
  }
  return `fd ${fd}`;
}
