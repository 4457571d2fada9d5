/**
 * `npx fcgipm run …`: npm exec runs fcgipm under `sh -c` and, on SIGTERM, signals that shell
 * only, which dies and leaves fcgipm re-parented. fcgipm started by npm watches its parent
 * and stops gracefully when it is gone (src/cli/parent-watch.ts); started otherwise, it
 * lives on when its parent exits (a script that starts it in the background).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN } from '../helpers/cli';
import { fixture, tempDir } from '../helpers/fixtures';

const ROOT = path.resolve(__dirname, '../..');
const spawned: ChildProcess[] = [];
const orphans: number[] = [];

afterEach(async () => {
  for (const pid of orphans.splice(0)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone already
    }
    await until(() => !running(pid));
  }
  for (const c of spawned.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  cleanupDirs();
});

const dirs: string[] = [];
function cleanupDirs(): void {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** Alive and not a zombie (a re-parented process nobody reaps stays one in a container). */
function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function until(cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Spawns a launcher and collects the fcgipm JSON lines that reach its stdout. */
function launch(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv }) {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  spawned.push(child);
  const lines: Array<Record<string, unknown>> = [];
  let buf = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  child.stdout.on('data', (c: Buffer) => {
    buf += c.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (l.startsWith('{')) lines.push(JSON.parse(l) as Record<string, unknown>);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, lines, stderr: () => err, exited };
}

function runArgs(d: string): string[] {
  return ['run', '--allow-root', '--http', '127.0.0.1:0', '--ipc-dir', path.join(d, 'sock'), '--min', '2', '--', fixture('hello')];
}

test('npx --no-install fcgipm run: SIGTERM to npx stops fcgipm and its workers gracefully', async () => {
  // A project with fcgipm installed, as `npm install fcgipm` links it.
  const project = tempDir();
  dirs.push(project);
  fs.writeFileSync(path.join(project, 'package.json'), '{"name":"site","version":"1.0.0","private":true}\n');
  fs.mkdirSync(path.join(project, 'node_modules', '.bin'), { recursive: true });
  fs.symlinkSync(ROOT, path.join(project, 'node_modules', 'fcgipm'));
  fs.symlinkSync('../fcgipm/bin/fcgipm.js', path.join(project, 'node_modules', '.bin', 'fcgipm'));
  const npx = launch('npx', ['--no-install', 'fcgipm', ...runArgs(project)], { cwd: project });
  await until(() => npx.lines.some((l) => l.msg === 'fcgipm ready'), 30_000);
  const manager = npx.lines.find((l) => l.msg === 'fcgipm ready')!.manager as number;
  const workers = npx.lines.filter((l) => l.msg === 'worker started').map((l) => l.pid as number);
  orphans.push(manager);
  expect(workers).toHaveLength(2);
  expect(manager).not.toBe(npx.child.pid);
  npx.child.kill('SIGTERM');
  await npx.exited;
  await until(() => !running(manager) && workers.every((p) => !running(p)));
  // It stopped the graceful way, not killed: the lines of a clean stop reached the pipe.
  expect(npx.lines.find((l) => l.msg === 'stopping gracefully')).toMatchObject({ signal: 'parent exited' });
  expect(npx.lines.at(-1)).toMatchObject({ msg: 'stopped' });
}, 60_000);

test('started by npm (npm_lifecycle_event), fcgipm stops when the shell that ran it is killed', async () => {
  const d = tempDir();
  dirs.push(d);
  // "; :" keeps sh from exec'ing node: fcgipm's parent is the shell, as under npm exec.
  const shell = launch('sh', ['-c', `"$0" "$@"; :`, process.execPath, BIN, ...runArgs(d)], { env: { ...process.env, npm_lifecycle_event: 'npx' } });
  await until(() => shell.lines.some((l) => l.msg === 'fcgipm ready'));
  const manager = shell.lines.find((l) => l.msg === 'fcgipm ready')!.manager as number;
  const workers = shell.lines.filter((l) => l.msg === 'worker started').map((l) => l.pid as number);
  orphans.push(manager);
  shell.child.kill('SIGKILL');
  await until(() => !running(manager) && workers.every((p) => !running(p)));
  expect(shell.lines.find((l) => l.msg === 'the process that started fcgipm (npm exec) is gone; stopping')).toBeDefined();
  expect(shell.lines.at(-1)).toMatchObject({ msg: 'stopped' });
});

test('not started by npm, fcgipm lives on when its parent exits (started in the background)', async () => {
  const d = tempDir();
  dirs.push(d);
  const env = { ...process.env };
  delete env.npm_lifecycle_event;
  const shell = launch('sh', ['-c', `"$0" "$@" & echo "{\\"bg\\":$!}"`, process.execPath, BIN, ...runArgs(d)], { env });
  expect(await shell.exited).toBe(0);
  await until(() => shell.lines.some((l) => l.msg === 'fcgipm ready'));
  const manager = shell.lines.find((l) => l.bg !== undefined)!.bg as number;
  orphans.push(manager);
  // Longer than the parent watch's poll: it would have stopped by now.
  await new Promise((r) => setTimeout(r, 2_500));
  expect(running(manager)).toBe(true);
  expect(shell.lines.find((l) => l.msg === 'stopping gracefully')).toBeUndefined();
});
