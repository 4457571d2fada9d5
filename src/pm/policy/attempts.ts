/**
 * Replay and kill policy for one attempt of one request on one worker: pure functions of
 * what the mechanism saw (the error's kind, whether an answer started, the worker's fate),
 * unit-tested with plain values (test/pm/policy/attempts.test.ts). The pool's request-run.ts
 * carries the answers out.
 */

/** A request is tried on at most this many workers (only when it never reached one). */
export const MAX_ATTEMPTS = 3;

/** What became of a worker that closed a connection without answering. */
export type WorkerFate = 'exited-cleanly' | 'crashed' | 'alive';

/** How the worker's exit reads: clean if it exited 0 or was asked to leave, else a crash. */
export function fateOfExit(exit: { readonly code: number | null; readonly error?: Error }, retired: boolean): WorkerFate {
  return exit.error === undefined && (exit.code === 0 || retired) ? 'exited-cleanly' : 'crashed';
}

/**
 * The kinds of attempt failure the policy tells apart (errors.ts classes). 'socket-gone' is a
 * connect failure with ENOENT: the worker's socket path was removed (the IPC dir deleted by
 * an admin or systemd-tmpfiles), so the worker can never be reached again.
 */
export type AttemptFailure = 'connect' | 'socket-gone' | 'closed' | 'io-timeout' | 'protocol' | 'other';

/**
 * A failed attempt, first decision:
 * - 'replay': nothing reached the app (a connect failure): try elsewhere, retire the worker.
 * - 'await-fate': the app closed the connection before a byte of answer and the body can be
 *   sent again (not a stream): wait for the worker's fate, then ask afterUnansweredClose.
 * - 'fail': answer the client with the error.
 */
export function onAttemptFailure(kind: AttemptFailure, responseStarted: boolean, streamBody: boolean): 'replay' | 'await-fate' | 'fail' {
  if (kind === 'connect' || kind === 'socket-gone') return 'replay';
  if (kind === 'closed' && !responseStarted && !streamBody) return 'await-fate';
  return 'fail';
}

/**
 * The app closed a connection without a byte of answer, and its fate is known. If it exits
 * cleanly it had finished its last request (php-cgi's PHP_FCGI_MAX_REQUESTS) and never took
 * this one — on a kept connection, or on a new one that sat in the backlog of a socket about
 * to close: 'replay' elsewhere (mod_fcgid answers 500 here, mod_fcgid 2.3.9). If it lives on
 * after closing a kept connection, it ignores FCGI_KEEP_CONN: 'resend' on a new connection to
 * the same worker. A crash, or a live app dropping a fresh connection: 'fail' (502) — unless
 * `neverTaken`: the worker died with the request unread (its socket reset, see
 * WorkerClosedError.unread) and the request is a safe one without a body, which no app starts
 * before it has read it: 'replay' (a worker killed by the OOM killer or an operator costs the
 * requests it was running, not those waiting in its socket; php-fpm's children share one
 * listening socket, so a child's death loses only what it had accepted).
 * Past MAX_ATTEMPTS a live worker's close is replayed no more ('replay' then fails it too).
 */
export function afterUnansweredClose(fate: WorkerFate, reusedConnection: boolean, attempts: number, neverTaken = false): 'fail' | 'resend' | 'replay' {
  if (fate === 'crashed') return neverTaken ? 'replay' : 'fail';
  if (fate === 'alive' && !reusedConnection) return 'fail';
  if (fate === 'alive' && attempts < MAX_ATTEMPTS) return 'resend';
  return 'replay';
}

/**
 * Whether a failed attempt counts against MAX_ATTEMPTS. A worker whose socket is gone does
 * not: it is retired on the spot, so each such worker costs a request at most one attempt
 * (the count stays bounded by the pool's size), and after the IPC dir was removed a request
 * that met three old workers in a row is still served by a new one instead of a 502.
 */
export function countsAsAttempt(kind: AttemptFailure): boolean {
  return kind !== 'socket-gone';
}

/** Methods an app is to answer without changing anything (RFC 9110 §9.2.1), safe to run again. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Whether a request a dead worker left unread can be sent to another: safe, and no body. A
 * request head larger than the app's reads could have been started with its last record
 * unread; a safe method may run twice (nginx's proxy_next_upstream retries those too).
 */
export function replayableUnread(method: string, hasBody: boolean): boolean {
  return !hasBody && SAFE_METHODS.has(method);
}

/** Whether a request that never reached an app may be tried once more. */
export function mayReplay(attempts: number): boolean {
  return attempts < MAX_ATTEMPTS;
}

/**
 * After an attempt failed with the answer sent to the client as an error: what becomes of
 * its worker. 'retire' for an IO timeout or a protocol error (mod_fcgid kills a process after
 * a communication error); 'check-fate' when a single-slot app dropped the connection in the
 * middle of an answer (it crashed, or is about to exit: it gets nothing more until that is
 * known, and one that lives on is retired); 'release' otherwise — a shared-socket backend
 * serves other requests too and replaces its own children.
 */
export function workerAfterFailure(kind: AttemptFailure, slots: number): 'retire' | 'check-fate' | 'release' {
  if (kind === 'io-timeout' || kind === 'protocol') return 'retire';
  if (kind === 'closed' && slots === 1) return 'check-fate';
  return 'release';
}

/**
 * A request ran past busyTimeoutMs: its worker is killed if it serves only that request; a
 * shared-socket backend serves others too, and its process cannot be told apart behind the
 * socket, so only the request is cut off.
 */
export function killOnBusyTimeout(slots: number): boolean {
  return slots === 1;
}
