/**
 * Runs the real CLI (bin/fcgipm.js from dist/, built by `npm test`'s pretest) as an operator
 * would, reading its JSON log lines from stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './fixtures';

export const BIN = path.resolve(__dirname, '../../bin/fcgipm.js');

export interface Cli {
  child: ChildProcess;
  stderr: () => string;
  lines: Array<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForLine: (match: (l: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>;
}

const started: Cli[] = [];
const dirs: string[] = [];

/**
 * Stops every CLI started by cli() — SIGTERM, so it stops its workers (they run in process
 * groups of their own and would outlive a SIGKILLed manager), SIGKILL after 10 s — and
 * removes dir() directories; call from afterEach.
 */
export async function cleanupClis(): Promise<void> {
  for (const c of started.splice(0)) {
    if (c.child.exitCode === null && c.child.signalCode === null) {
      c.child.kill('SIGTERM');
      const timer = setTimeout(() => c.child.kill('SIGKILL'), 10_000);
      await c.exited;
      clearTimeout(timer);
    }
    await c.exited;
  }
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}

/**
 * The tests run as root on CI: a `run` gets --allow-root (its workers would be refused as
 * root otherwise) unless `asRoot: 'refused'` leaves it out, to test that refusal. `env` is
 * added to the test's own environment.
 */
export function cli(args: string[], extraFds = 0, options: { asRoot?: 'allowed' | 'refused'; env?: NodeJS.ProcessEnv } = {}): Cli {
  const stdio: Array<'pipe' | 'ignore'> = ['ignore', 'pipe', 'pipe'];
  for (let i = 0; i < extraFds; i += 1) stdio.push('pipe');
  const allow = args[0] === 'run' && options.asRoot !== 'refused' && !args.includes('--allow-root');
  const argv = allow ? ['run', '--allow-root', ...args.slice(1)] : args;
  const child = spawn(process.execPath, [BIN, ...argv], { stdio, env: { ...process.env, ...options.env } });
  let err = '';
  let buf = '';
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  child.stdout!.on('data', (c: Buffer) => {
    buf += c.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (l.startsWith('{')) lines.push(JSON.parse(l) as Record<string, unknown>);
      for (const w of waiters.splice(0)) w();
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      for (const w of waiters.splice(0)) w();
      resolve({ code, signal });
    }),
  );
  const c: Cli = {
    child,
    stderr: () => err,
    lines,
    exited,
    waitForLine: async (match) => {
      for (;;) {
        const found = lines.find(match);
        if (found) return found;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`fcgipm exited (${String(child.exitCode ?? child.signalCode)}): ${err}`);
        await new Promise<void>((r) => waiters.push(r));
      }
    },
  };
  started.push(c);
  return c;
}

export async function ready(c: Cli): Promise<string> {
  const line = await c.waitForLine((l) => l.msg === 'fcgipm ready');
  return `http://${String(line.http)}`;
}

