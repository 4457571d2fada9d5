import type { ListenTarget } from '../config/types';
import { FcgipmError, ListenError } from '../errors';

/** The system errors a bind meets, in the words an operator reads. */
const REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'no such address on this machine',
  EPERM: 'operation not permitted',
  ENOENT: 'no such directory',
};

/** The run flag that sets each listener. */
const FLAGS: Readonly<Record<string, string>> = { http: '--http', fastcgi: '--fastcgi', admin: '--admin' };

function describe(t: ListenTarget): string {
  return t.kind === 'unix' ? `unix:${t.path}` : `${t.host}:${t.port}`;
}

/**
 * A listener's bind failure as a ListenError naming it: "listen.http 127.0.0.1:8080: address
 * already in use (set another with --http or listen.http)". Errors that already explain
 * themselves (an FcgipmError) pass through.
 */
function namedListenError(listener: 'http' | 'fastcgi' | 'admin', target: ListenTarget | string, err: unknown): Error {
  if (err instanceof FcgipmError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const reason = (code !== undefined ? REASONS[code] : undefined) ?? (e instanceof Error ? e.message : String(err));
  const where = typeof target === 'string' ? target : describe(target);
  return new ListenError(`listen.${listener} ${where}: ${reason} (set another with ${FLAGS[listener] ?? ''} or listen.${listener})`, listener, code, { cause: err });
}

/** Runs a listener's listen(), turning its failure into namedListenError(). */
export async function listenNamed<T>(listener: 'http' | 'fastcgi' | 'admin', target: ListenTarget | string, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen();
  } catch (err) {
    throw namedListenError(listener, target, err);
  }
}
