import { markInheritedCloexec } from './native';

/** systemd passes socket-activation descriptors from fd 3 on (sd_listen_fds, SD_LISTEN_FDS_START). */
const SD_LISTEN_FDS_START = 3;

export interface FdHygieneOptions {
  /** Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Default process.pid. */
  pid?: number;
}

/** The fds systemd handed to this process (LISTEN_FDS when LISTEN_PID is our pid), else none. */
export function systemdListenFds(options: FdHygieneOptions = {}): number[] {
  const env = options.env ?? process.env;
  const pid = options.pid ?? process.pid;
  const count = Number(env.LISTEN_FDS);
  if (env.LISTEN_PID !== String(pid) || !Number.isInteger(count) || count <= 0) return [];
  return Array.from({ length: count }, (_, i) => SD_LISTEN_FDS_START + i);
}

/**
 * At manager start-up: marks every descriptor above 2 that this process inherited
 * close-on-exec, except systemd's LISTEN_FDS, so no worker ever sees them (docs/architecture.md,
 * "Descriptor hygiene"; mod_fcgid's apps inherit httpd's pipes and /dev/null).
 * Descriptors Node opened are close-on-exec already and stay untouched. Returns the fds it
 * changed.
 */
export function markInheritedDescriptorsCloexec(options: FdHygieneOptions = {}): number[] {
  return markInheritedCloexec(3, systemdListenFds(options));
}
