import { systemdListenFds, type FdHygieneOptions } from '../spawn/fd-hygiene';

/** The listeners a socket unit may hand over, by FileDescriptorName=. */
export const LISTENER_NAMES = ['http', 'fastcgi', 'admin'] as const;
export type ListenerName = (typeof LISTENER_NAMES)[number];

export interface ActivatedSockets {
  /** The descriptor for each listener the socket unit named. */
  readonly fds: Partial<Record<ListenerName, number>>;
  /** Names passed that are none of LISTENER_NAMES (logged; the fd is left unused). */
  readonly unknown: ReadonlyArray<{ readonly name: string; readonly fd: number }>;
}

function isListenerName(name: string): name is ListenerName {
  return (LISTENER_NAMES as readonly string[]).includes(name);
}

/**
 * Socket activation (sd_listen_fds_with_names): LISTEN_PID must be this process, LISTEN_FDS
 * counts descriptors from 3, LISTEN_FDNAMES names them with ":" between. A single descriptor
 * whose name is not a listener's (systemd's default name is the socket unit's, e.g.
 * "fcgipm.socket") is the HTTP listener, the common case of one socket unit.
 */
export function activatedSockets(options: FdHygieneOptions = {}): ActivatedSockets {
  const env = options.env ?? process.env;
  const fds = systemdListenFds(options);
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  const out: Partial<Record<ListenerName, number>> = {};
  const unknown: Array<{ name: string; fd: number }> = [];
  fds.forEach((fd, i) => {
    const name = names[i] ?? '';
    if (isListenerName(name) && out[name] === undefined) out[name] = fd;
    else if (fds.length === 1) out.http = fd;
    else unknown.push({ name, fd });
  });
  return { fds: out, unknown };
}
