/**
 * fcgipm's built-in defaults that more than one layer applies (the YAML loader, `fcgipm run`'s
 * flags, the manager), written once. Like errors.ts it imports nothing, so every layer may use it.
 */

/** Where the per-process sockets go: mod_fcgid's FcgidIPCDir as Debian sets it. */
export const DEFAULT_IPC_DIR = '/run/fcgidsock';

/** Live worker processes across all pools at most: FcgidMaxProcesses' default. */
export const DEFAULT_MAX_PROCESSES = 1000;

/** On SIGTERM, how long requests in flight get to finish (php-fpm: process_control_timeout). */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
