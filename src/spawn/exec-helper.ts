import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { InvalidArgumentError, SpawnError } from '../errors';

/**
 * The exec helper, build/Release/fcgipm-exec (src/spawn/native/fcgipm_exec.c): Node cannot
 * run code between fork and exec, so a worker that needs rlimits, nice, umask, supplementary
 * groups or another uid/gid is spawned through this small program, which applies them and
 * execs the worker in place (same pid, same fd 0). This module builds its command line and
 * recognises the one line it writes when it fails.
 */

/** Two levels below the package root both as src/spawn (ts-jest) and as dist/spawn (tsc), like the addon. */
export const EXEC_HELPER_PATH = path.join(__dirname, '..', '..', 'build', 'Release', 'fcgipm-exec');

/** The helper's exit status when a step before exec failed (setrlimit, setuid, a bad argument). */
export const EXEC_HELPER_SETUP_FAILED = 126;
/** The helper's exit status when execv itself failed (ENOENT, EACCES, EAGAIN from RLIMIT_NPROC). */
export const EXEC_HELPER_EXEC_FAILED = 127;
/** Every line the helper writes starts so. */
const EXEC_HELPER_PREFIX = 'fcgipm-exec: ';

/** A resource limit: soft and hard are both set to it. */
export type RlimitValue = number | 'unlimited';

/** Resource limits for a worker (php-fpm's rlimit_files / rlimit_core; mod_fcgid ignores its RLimit*). */
export interface WorkerLimits {
  /** RLIMIT_NOFILE: open descriptors. */
  nofile?: RlimitValue;
  /** RLIMIT_CORE: core file size in bytes (0: no core dumps). */
  core?: RlimitValue;
  /** RLIMIT_AS: address space in bytes. */
  addressSpace?: RlimitValue;
  /** RLIMIT_NPROC: processes of the worker's (real) user, checked at exec. */
  nproc?: RlimitValue;
}

/** What the helper applies; any of it set means the worker is spawned through the helper. */
export interface WorkerIdentity {
  limits?: WorkerLimits;
  /** Absolute nice value, -20 to 19 (php-fpm's process.priority). Below the manager's needs root. */
  nice?: number;
  /** File mode creation mask for the worker, 0 to 0o777. */
  umask?: number;
  /** Supplementary groups; default none at all when uid or gid is set and the manager is root. */
  groups?: readonly number[];
  uid?: number;
  gid?: number;
}

/** Option name → helper flag, in the order the helper applies them. */
const LIMIT_FLAGS: readonly (readonly [keyof WorkerLimits, string])[] = [
  ['nofile', '--nofile'],
  ['core', '--core'],
  ['addressSpace', '--as'],
  ['nproc', '--nproc'],
];

/** (uid_t)-1 means "unchanged" to the kernel, so the largest usable id is one less. */
const MAX_ID = 0xfffffffe;

function isId(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_ID;
}

/** Throws InvalidArgumentError naming the option (STYLE.md: bad options throw at construction). */
export function validateWorkerIdentity(options: WorkerIdentity, owner = 'WorkerProcess'): void {
  const { limits, nice, umask, groups } = options;
  if (limits !== undefined) {
    if (typeof limits !== 'object' || limits === null) throw new InvalidArgumentError(`${owner}: limits must be an object`);
    const known = new Set<string>(LIMIT_FLAGS.map(([key]) => key));
    for (const [key, value] of Object.entries(limits)) {
      if (!known.has(key)) throw new InvalidArgumentError(`${owner}: unknown limit limits.${key} (known: ${[...known].join(', ')})`);
      if (value !== undefined && value !== 'unlimited' && !(Number.isSafeInteger(value) && (value as number) >= 0)) {
        throw new InvalidArgumentError(`${owner}: limits.${key} must be a non-negative integer or 'unlimited', got ${String(value)}`);
      }
    }
  }
  if (nice !== undefined && !(Number.isInteger(nice) && nice >= -20 && nice <= 19)) {
    throw new InvalidArgumentError(`${owner}: nice must be an integer from -20 to 19, got ${String(nice)}`);
  }
  if (umask !== undefined && !(Number.isInteger(umask) && umask >= 0 && umask <= 0o777)) {
    throw new InvalidArgumentError(`${owner}: umask must be a mode from 0 to 0o777, got ${String(umask)}`);
  }
  if (groups !== undefined && !(Array.isArray(groups) && groups.every(isId))) {
    throw new InvalidArgumentError(`${owner}: groups must be an array of group ids (0 to ${MAX_ID})`);
  }
  for (const key of ['uid', 'gid'] as const) {
    const id = options[key];
    if (id !== undefined && !isId(id)) throw new InvalidArgumentError(`${owner}: ${key} must be an integer from 0 to ${MAX_ID}, got ${String(id)}`);
  }
}

/**
 * The helper's options (everything before `--`), or undefined when there is nothing for it
 * to do: the worker is then spawned directly, exactly as without the helper. An empty
 * `limits` object counts as nothing; an empty `groups` list does not (it clears them).
 */
export function execHelperArgs(options: WorkerIdentity): string[] | undefined {
  const args: string[] = [];
  for (const [key, flag] of LIMIT_FLAGS) {
    const value = options.limits?.[key];
    if (value !== undefined) args.push(flag, String(value));
  }
  if (options.nice !== undefined) args.push('--nice', String(options.nice));
  if (options.umask !== undefined) args.push('--umask', options.umask.toString(8).padStart(4, '0'));
  if (options.groups !== undefined) args.push('--groups', options.groups.join(','));
  if (options.gid !== undefined) args.push('--gid', String(options.gid));
  if (options.uid !== undefined) args.push('--uid', String(options.uid));
  return args.length > 0 ? args : undefined;
}

let helperFound = false;

/**
 * Throws SpawnError when the helper is missing or not executable, before anything is
 * spawned: a missing build should say how to fix it, not surface as a worker that cannot
 * start. Checked until found once.
 */
export function requireExecHelper(): string {
  if (helperFound) return EXEC_HELPER_PATH;
  try {
    fs.accessSync(EXEC_HELPER_PATH, fs.constants.X_OK);
  } catch {
    throw new SpawnError(`the exec helper ${EXEC_HELPER_PATH} is missing; build it with "npm run install" (node-gyp rebuild)`);
  }
  helperFound = true;
  return EXEC_HELPER_PATH;
}

/**
 * Refuses an identity that names root for a worker unless `allowRoot` (SpawnError naming the
 * two ways out): uid 0, gid 0, group 0 among the supplementary groups, or a uid without a gid
 * while the manager's gid is 0 (the worker would keep group root).
 */
export function refuseRoot(options: WorkerIdentity & { allowRoot?: boolean }, managerGid: number | undefined = process.getgid?.()): void {
  // The manager's own uid is the pool's business (Manager.addPool refuses such a pool when it
  // is made); here only an identity that names root is refused.
  const what = rootReason(options, managerGid, undefined);
  if (what !== undefined) throw new SpawnError(`refusing to run workers as root (${what}): ${ROOT_WAYS_OUT}`);
}

/** The two ways out, named in every refusal (php-fpm: "please specify user and group other than root"). */
export const ROOT_WAYS_OUT = 'set a user for them (--user USER, or user: in the config) or allow root (--allow-root, or allowRoot: true)';

/**
 * Why workers with this identity would run as root, or undefined when they would not or root
 * is allowed. Without a uid they keep the manager's: root when the manager runs as root, as
 * php-fpm refuses to (it needs --allow-to-run-as-root).
 */
export function rootReason(options: WorkerIdentity & { allowRoot?: boolean }, managerGid: number | undefined, managerUid: number | undefined): string | undefined {
  if (options.allowRoot === true) return undefined;
  let what: string | undefined;
  if (options.uid === undefined && managerUid === 0) what = 'fcgipm runs as root and no user is set';
  else if (options.uid === 0) what = 'uid 0';
  else if (options.gid === 0) what = 'gid 0';
  else if (options.groups?.includes(0)) what = 'group 0 in groups';
  else if (options.uid !== undefined && options.gid === undefined && managerGid === 0) what = `uid ${options.uid} would keep the manager's gid 0: set gid`;
  return what;
}

/** The helper's failure line is one line of at most PIPE_BUF bytes. */
const MAX_HELPER_OUTPUT = 4096;

/**
 * Watches a worker's stderr for the helper's failure line. The helper writes nothing when it
 * succeeds and exactly one line (`fcgipm-exec: <call>(<args>): <reason>`) when it fails, then
 * exits 126 or 127 — before the app ever ran. So a failure is: that exit status AND a stderr
 * that consists of that one line and nothing else. The watch stops (and drops what it held)
 * as soon as stderr can no longer be that: another first line, a second line, or more than
 * PIPE_BUF bytes. An app that exits 127 on its own ("command not found" from a shell script)
 * therefore never counts as a helper failure, and a long-running worker costs nothing. No
 * clock is involved: a time window ("exited within its first second") would misfire when
 * the event loop stalls, and the content rule already rules out everything it would.
 */
export class HelperFailureWatch {
  private readonly readable: Readable;
  private held = Buffer.alloc(0);
  private ruledOut = false;
  private readonly onData = (chunk: Buffer | string): void => this.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);

  constructor(readable: Readable) {
    this.readable = readable;
    // A second 'data' listener beside captureOutput's: both see every chunk, the log is unchanged.
    readable.on('data', this.onData);
  }

  /** The helper's line when stderr so far is exactly one helper line, else undefined. */
  line(): string | undefined {
    if (this.ruledOut || this.held.length === 0) return undefined;
    const text = this.held.toString('utf8');
    return text.endsWith('\n') ? text.slice(0, -1) : text;
  }

  private push(chunk: Buffer): void {
    if (this.ruledOut) return;
    const all = Buffer.concat([this.held, chunk]);
    const newline = all.indexOf(0x0a);
    const head = all.subarray(0, EXEC_HELPER_PREFIX.length).toString('latin1');
    if (all.length > MAX_HELPER_OUTPUT || !EXEC_HELPER_PREFIX.startsWith(head) || (newline >= 0 && newline !== all.length - 1)) {
      this.ruledOut = true;
      this.held = Buffer.alloc(0);
      this.readable.off('data', this.onData);
      return;
    }
    this.held = all;
  }
}

/** SpawnError for a helper failure, or undefined when this exit is the app's own. */
export function helperFailure(command: string, code: number | null, watch: HelperFailureWatch | undefined): SpawnError | undefined {
  if (watch === undefined || (code !== EXEC_HELPER_SETUP_FAILED && code !== EXEC_HELPER_EXEC_FAILED)) return undefined;
  const line = watch.line();
  if (line === undefined || !line.startsWith(EXEC_HELPER_PREFIX)) return undefined;
  return new SpawnError(`cannot start ${command}: ${line}`);
}
