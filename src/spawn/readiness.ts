import fs from 'node:fs';

/**
 * accept(2) and accept4(2) syscall numbers per architecture, as /proc/<pid>/syscall shows
 * them. A worker blocked in one of these on fd 0 is ready: it is waiting for our connection.
 */
const ACCEPT_SYSCALLS: Readonly<Record<string, readonly number[]>> = {
  x64: [43, 288],
  arm64: [202, 242],
};

export type Readiness = 'accepting' | 'unknown';

/** Checked every millisecond this long after spawn, then less and less often. */
const FAST_CHECK_MS = 50;

export interface ReadinessOptions {
  readonly timeoutMs: number;
  /** Injectable for tests; default the real /proc. */
  readonly procRoot?: string;
}

/**
 * Is `pid` (or one of its direct children — php-cgi with PHP_FCGI_CHILDREN accepts in
 * children) blocked in accept on fd 0? false when it is gone (its exit is on its way to the
 * pool); undefined when /proc cannot tell (other architecture, no permission to read another
 * user's syscall file).
 */
function isAcceptingOnFd0(pid: number, procRoot = '/proc'): boolean | undefined {
  const numbers = ACCEPT_SYSCALLS[process.arch];
  if (!numbers) return undefined;
  const pids = [pid];
  try {
    const children = fs.readFileSync(`${procRoot}/${pid}/task/${pid}/children`, 'utf8').trim();
    if (children) for (const c of children.split(/\s+/)) pids.push(Number(c));
  } catch {
    // no children file (old kernel): the worker itself is checked
  }
  let readable = false;
  for (const p of pids) {
    let text: string;
    try {
      text = fs.readFileSync(`${procRoot}/${p}/syscall`, 'utf8');
    } catch (err) {
      // The worker itself gone (exited and reaped) is not ready: its exit is on its way.
      const code = (err as NodeJS.ErrnoException).code;
      if (p === pid && (code === 'ENOENT' || code === 'ESRCH')) return false;
      continue;
    }
    readable = true;
    // "<nr> <arg0> <arg1> …" while blocked in a syscall; "running" or "-1 …" otherwise.
    const [nr, arg0] = text.trim().split(' ');
    if (numbers.includes(Number(nr)) && arg0 === '0x0') return true;
  }
  return readable ? false : undefined;
}

/**
 * Resolves once the worker is blocked in accept on its listening socket, so it is handed a
 * request only when it takes connections (mod_fcgid puts a process on its idle list right
 * after fork and charges its start-up to FcgidIOTimeout). Checks
 * /proc every millisecond for the first 50 ms — a libfcgi app gets to accept() in about 6 ms,
 * php-cgi in about 50, and a doubling interval from the start added up to 10 ms to a cold
 * first request (docs/benchmarks.md) — then at a doubling interval up to 25 ms; only while a
 * worker starts, never for requests. Resolves 'unknown' at once when /proc cannot tell;
 * rejects when the start-up takes longer than timeoutMs. `cancel()` stops it (the worker
 * exited).
 */
export function waitUntilAccepting(pid: number, options: ReadinessOptions): { promise: Promise<Readiness>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let cancelled = false;
  const promise = new Promise<Readiness>((resolve, reject) => {
    const started = Date.now();
    const deadline = started + options.timeoutMs;
    let interval = 1;
    const check = (): void => {
      if (cancelled) return;
      const state = isAcceptingOnFd0(pid, options.procRoot);
      if (state === undefined) return resolve('unknown');
      if (state) return resolve('accepting');
      if (Date.now() >= deadline) return reject(new Error(`not accepting connections after ${options.timeoutMs} ms`));
      timer = setTimeout(check, interval);
      if (Date.now() - started >= FAST_CHECK_MS) interval = Math.min(25, interval * 2);
    };
    check();
  });
  return {
    promise,
    cancel: () => {
      cancelled = true;
      if (timer) clearTimeout(timer);
    },
  };
}
