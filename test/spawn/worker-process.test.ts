import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { SpawnError } from '../../src/errors';
import { markInheritedDescriptorsCloexec } from '../../src/spawn/fd-hygiene';
import { IpcDir } from '../../src/spawn/ipc-dir';
import { WorkerProcess, workerEnvironment, type WorkerExit, type WorkerSpawnOptions } from '../../src/spawn/worker-process';
import { CapturedLog, INFO, WARN, makeTempDir, readProbeReport, removeTempDir, requireProbe, type ProbeReport } from './helpers';

let dir: string;
let ipc: IpcDir;
let log: CapturedLog;
let probe: string;
const started: WorkerProcess[] = [];

beforeAll(() => {
  probe = requireProbe();
  // What the manager does at start-up: whatever the test runner inherited stays out of workers.
  markInheritedDescriptorsCloexec();
});

beforeEach(() => {
  dir = makeTempDir();
  ipc = new IpcDir({ dir: path.join(dir, 'sock') });
  ipc.prepare();
  log = new CapturedLog();
});

afterEach(async () => {
  for (const w of started.splice(0)) {
    w.kill('SIGKILL');
    await w.exited;
  }
  ipc.cleanup();
  removeTempDir(dir);
});

function start(overrides: Partial<WorkerSpawnOptions> = {}): WorkerProcess {
  const w = WorkerProcess.spawn({ command: probe, socketPath: ipc.nextSocketPath(), logger: log.logger, ...overrides });
  started.push(w);
  return w;
}

/** Starts a probe that writes its report, says "probe ready" on stdout and then serves. */
async function startServing(name: string, overrides: Partial<WorkerSpawnOptions> = {}): Promise<{ w: WorkerProcess; report: ProbeReport }> {
  const file = path.join(dir, name);
  const w = start({ ...overrides, env: { PROBE_REPORT: file, PROBE_READY: '1', ...overrides.env } });
  // A worker that dies first (cannot exec, say) fails the test at once instead of timing out.
  const died = w.exited.then((exit) => {
    throw new Error(`probe exited before it was ready: ${JSON.stringify({ code: exit.code, signal: exit.signal, error: exit.error?.message })}`);
  });
  await Promise.race([log.waitFor((r) => r.msg === 'worker output' && r.line === `probe ready ${w.pid}`), died]);
  died.catch(() => undefined);
  return { w, report: readProbeReport(file) };
}

/** Starts a probe that writes its report and exits 0; resolves after 'exit'. */
async function runToExit(overrides: Partial<WorkerSpawnOptions> = {}): Promise<{ w: WorkerProcess; exit: WorkerExit; report: ProbeReport }> {
  const file = path.join(dir, 'report');
  const w = start({ ...overrides, env: { PROBE_REPORT: file, PROBE_EXIT: '0', ...overrides.env } });
  const exit = await w.exited;
  return { w, exit, report: readProbeReport(file) };
}

function writeScript(name: string, body: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

describe('the process a worker starts as', () => {
  test('fd 0 is a blocking listening socket bound to the socket path; fds are exactly 0, 1, 2', async () => {
    const { w, exit, report } = await runToExit();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(report.pid).toBe(w.pid);
    expect(report.peername).toBe('ENOTCONN');
    expect(report.acceptconn).toBe('1');
    expect(report.nonblock).toBe('0');
    expect(report.sockname).toBe(w.socketPath);
    expect(report.fds).toEqual([0, 1, 2]);
    expect(report.fdTargets.get(0)).toMatch(/^socket:/);
  });

  test('cwd is the directory of the executable, argv is the command and its args', async () => {
    const { report } = await runToExit({ args: ['one', 'two words'] });
    expect(report.cwd).toBe(path.dirname(probe));
    expect(report.argv).toEqual([probe, 'one', 'two words']);
  });

  test('an explicit cwd is used; a relative command resolves against the manager cwd', async () => {
    const relative = path.relative(process.cwd(), probe);
    const { report } = await runToExit({ command: relative, cwd: dir });
    expect(report.cwd).toBe(dir);
    expect(report.argv[0]).toBe(probe);
  });

  test('the environment is exactly PATH (+ LD_LIBRARY_PATH) and the configured variables', async () => {
    const { report } = await runToExit({ env: { APP_MODE: 'test', PHP_FCGI_CHILDREN: '0' } });
    const expected: Record<string, string> = { PATH: process.env.PATH ?? '' };
    if (process.env.LD_LIBRARY_PATH !== undefined) expected.LD_LIBRARY_PATH = process.env.LD_LIBRARY_PATH;
    Object.assign(expected, { APP_MODE: 'test', PHP_FCGI_CHILDREN: '0', PROBE_REPORT: path.join(dir, 'report'), PROBE_EXIT: '0' });
    expect(report.env).toEqual(expected);
  });

  test('configured variables override PATH; a default PATH is used when the manager has none', () => {
    expect(workerEnvironment({ PATH: '/opt/bin' }, { PATH: '/usr/bin' })).toEqual({ PATH: '/opt/bin' });
    expect(workerEnvironment({}, {})).toEqual({ PATH: '/usr/local/bin:/usr/bin:/bin' });
    expect(workerEnvironment({}, { PATH: '/x', LD_LIBRARY_PATH: '/l', HOME: '/root' })).toEqual({ PATH: '/x', LD_LIBRARY_PATH: '/l' });
    const env = workerEnvironment(JSON.parse('{"__proto__":"kept"}') as Record<string, string>, { PATH: '/x' });
    expect(Object.entries(env)).toEqual([
      ['PATH', '/x'],
      ['__proto__', 'kept'],
    ]);
  });

  test('two workers running at once each see only their own socket', async () => {
    const [a, b] = await Promise.all([startServing('report-a'), startServing('report-b')]);
    for (const { w, report } of [a, b]) {
      expect(report.fds).toEqual([0, 1, 2]);
      expect(report.sockname).toBe(w.socketPath);
    }
    expect(a.report.fdTargets.get(0)).not.toBe(b.report.fdTargets.get(0));
    expect(a.w.socketPath).not.toBe(b.w.socketPath);
  });

  test('a worker runs in a session of its own unless newProcessGroup is false', async () => {
    const own = await runToExit();
    expect(own.report.pgid).toBe(own.w.pid);
    const shared = await runToExit({ newProcessGroup: false });
    // /proc/self/stat after "(comm)": state ppid pgrp ...
    const ownPgid = Number(fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ')[2]);
    expect(shared.report.pgid).toBe(ownPgid);
    expect(shared.report.pgid).not.toBe(shared.w.pid);
  });

  const asRoot = process.getuid?.() === 0 ? test : test.skip;
  asRoot('uid and gid: the worker runs as them and owns its socket', async () => {
    fs.chmodSync(dir, 0o777); // the report file is written by the unprivileged worker
    // The checkout may sit below a directory nobody cannot enter (a 0700 temp dir in CI):
    // run a copy of the probe from the test's own world-readable directory.
    const copy = path.join(dir, 'probe-copy.fcgi');
    fs.copyFileSync(probe, copy);
    fs.chmodSync(copy, 0o755);
    const { w, report } = await startServing('report-nobody', { command: copy, uid: 65534, gid: 65534 });
    expect([report.uid, report.gid]).toEqual([65534, 65534]);
    const stats = fs.lstatSync(w.socketPath);
    expect([stats.uid, stats.gid]).toEqual([65534, 65534]);
  });
});

describe('the socket', () => {
  test('is <dir>/<manager pid>.<n>, mode srw-------, and is removed when the worker exits', async () => {
    const w = start();
    expect(w.socketPath).toBe(path.join(ipc.dir, `${process.pid}.0`));
    const stats = fs.lstatSync(w.socketPath);
    expect(stats.isSocket()).toBe(true);
    expect(stats.mode & 0o777).toBe(0o600);
    expect(w.alive).toBe(true);

    expect(w.kill('SIGKILL')).toBe(true);
    const exit = await w.exited;
    expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(fs.existsSync(w.socketPath)).toBe(false);
  });

  test('the probe answers a FastCGI request on it', async () => {
    const { w } = await startServing('report');
    // BEGIN_REQUEST (responder, no keep-conn), empty PARAMS, empty STDIN.
    const request = Buffer.from([
      1, 1, 0, 1, 0, 8, 0, 0, /* */ 0, 1, 0, 0, 0, 0, 0, 0,
      1, 4, 0, 1, 0, 0, 0, 0,
      1, 5, 0, 1, 0, 0, 0, 0,
    ]);
    const socket = net.connect(w.socketPath);
    socket.end(request);
    const chunks: Buffer[] = [];
    for await (const chunk of socket) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString('latin1')).toContain(`probe ${w.pid}`);
  });

  test('IpcDir.cleanup removes the socket of a worker still running', () => {
    const w = start();
    expect(fs.existsSync(w.socketPath)).toBe(true);
    expect(ipc.cleanup()).toEqual([w.socketPath]);
    expect(fs.existsSync(w.socketPath)).toBe(false);
  });

  test('a socket that cannot be created throws SpawnError and starts nothing', () => {
    expect(() =>
      WorkerProcess.spawn({ command: probe, socketPath: path.join(dir, 'missing', 'x.0'), logger: log.logger }),
    ).toThrow(SpawnError);
    expect(() => WorkerProcess.spawn({ command: probe, socketPath: path.join(dir, 'y'.repeat(120)), logger: log.logger })).toThrow(
      /ENAMETOOLONG/,
    );
  });
});

describe('exit', () => {
  test('the exit code is recorded, the event fires once, and a non-zero exit is logged at warn', async () => {
    const w = start({ env: { PROBE_EXIT: '7' } });
    const events: WorkerExit[] = [];
    w.on('exit', (e) => events.push(e));
    const exit = await w.exited;
    expect(exit).toEqual({ code: 7, signal: null });
    expect(events).toEqual([exit]);
    expect(w.exitInfo).toBe(exit);
    expect(w.alive).toBe(false);
    expect(w.kill()).toBe(false);
    const line = log.records.find((r) => r.msg === 'worker process exited');
    expect(line).toMatchObject({ level: WARN, pid: w.pid, code: 7, signal: null });
  });

  test('a clean exit is logged at info', async () => {
    const { w } = await runToExit();
    expect(log.records.find((r) => r.msg === 'worker process exited')).toMatchObject({ level: INFO, pid: w.pid, code: 0 });
  });

  test('SIGTERM makes an idle libfcgi app leave with 0; a kill we asked for is logged at debug', async () => {
    const { w } = await startServing('report');
    expect(w.kill()).toBe(true);
    const exit = await w.exited;
    // libfcgi turns SIGTERM into "shutdown pending": FCGX_Accept_r fails and main returns 0.
    expect(exit).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(w.socketPath)).toBe(false);
    expect(log.records.find((r) => r.msg === 'worker process exited')).toMatchObject({ level: 20, pid: w.pid });
  });

  test('a worker killed from outside is logged at warn with the signal', async () => {
    const { w } = await startServing('report');
    process.kill(w.pid!, 'SIGKILL');
    expect(await w.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(log.records.find((r) => r.msg === 'worker process exited')).toMatchObject({ level: WARN, signal: 'SIGKILL' });
  });

  test('a missing command ends in an exit with error, no exception', async () => {
    const missing = path.join(dir, 'no-such-app');
    const w = start({ command: missing });
    expect(w.pid).toBeUndefined();
    expect(w.alive).toBe(false);
    const exit = await w.exited;
    expect(exit.code).toBeNull();
    expect(exit.signal).toBeNull();
    expect(exit.error).toBeInstanceOf(SpawnError);
    expect(exit.error?.message).toContain('ENOENT');
    expect(exit.error?.message).toContain(missing);
    expect(fs.existsSync(w.socketPath)).toBe(false);
    expect(log.records.find((r) => r.msg === 'worker process could not be started')).toMatchObject({ level: WARN });
  });

  test('a file without execute permission ends in an exit with EACCES', async () => {
    const file = path.join(dir, 'not-executable');
    fs.writeFileSync(file, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
    const exit = await start({ command: file }).exited;
    expect(exit.error?.message).toContain('EACCES');
  });
});

describe('output capture', () => {
  test('stdout at info, stderr at warn, whole 100 000-char lines, a final partial line, raw bytes kept', async () => {
    const script = writeScript(
      'talk.sh',
      [
        'echo "hello from stdout"',
        'echo "trouble on stderr" >&2',
        "head -c 100000 /dev/zero | tr '\\000' x; echo",
        "printf 'bad \\377 byte\\n' >&2",
        "printf 'no newline at the end'",
        'exit 3',
      ].join('\n'),
    );
    const w = start({ command: script });
    let linesAtExit = -1;
    w.on('exit', () => {
      linesAtExit = log.output('stdout').length + log.output('stderr').length;
    });
    const exit = await w.exited;
    expect(exit).toEqual({ code: 3, signal: null });

    const out = log.output('stdout');
    const err = log.output('stderr');
    expect(out.map((r) => r.line)).toEqual(['hello from stdout', 'x'.repeat(100_000), 'no newline at the end']);
    expect(out.every((r) => r.level === INFO && r.pid === w.pid && r.continued === undefined)).toBe(true);
    expect(err.map((r) => [r.line, r.escaped])).toEqual([
      ['trouble on stderr', undefined],
      ['bad \\xff byte', true],
    ]);
    expect(err.every((r) => r.level === WARN)).toBe(true);
    // 'exit' came after every line was logged.
    expect(linesAtExit).toBe(5);
  });

  test('exit is not held up by a grandchild that keeps the output pipes open', async () => {
    const script = writeScript('daemonise.sh', 'echo started\nsleep 30 &\nexit 0');
    const w = start({ command: script });
    const exit = await w.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(log.output('stdout').map((r) => r.line)).toEqual(['started']);
  });
});

/** Not gone and not a zombie waiting to be reaped. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function gone(pid: number, ms = 3_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (running(pid)) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

describe('the worker\'s process group', () => {
  test('processes a worker leaves behind in its group are killed when it exits, with a warning', async () => {
    const script = writeScript('leave.sh', 'sleep 300 &\necho child $!\nexit 0');
    const w = start({ command: script });
    await w.exited;
    const child = Number(/child (\d+)/.exec(log.output('stdout').map((r) => r.line).join('\n'))?.[1]);
    expect(child).toBeGreaterThan(0);
    expect(await gone(child)).toBe(true);
    expect(log.records.find((r) => r.msg === 'the worker left processes behind in its group; killed them')).toMatchObject({ level: WARN, pid: w.pid });
  });

  test('kill() signals the whole group: a child of the worker stops with it', async () => {
    const script = writeScript('parent.sh', 'sleep 300 &\necho child $!\nwait');
    const w = start({ command: script });
    const line = await log.waitFor((r) => r.msg === 'worker output' && String(r.line).startsWith('child '));
    const child = Number(String(line.line).slice(6));
    w.kill('SIGTERM');
    await w.exited;
    expect(await gone(child)).toBe(true);
  });

  test('without a group of its own (newProcessGroup false) only the worker is signalled', async () => {
    const script = writeScript('shared.sh', 'sleep 300 &\necho child $!\nwait');
    const w = start({ command: script, newProcessGroup: false });
    const line = await log.waitFor((r) => r.msg === 'worker output' && String(r.line).startsWith('child '));
    const child = Number(String(line.line).slice(6));
    try {
      w.kill('SIGTERM');
      await w.exited;
      expect(running(child)).toBe(true);
    } finally {
      process.kill(child, 'SIGKILL');
    }
  });
});

describe('destroy()', () => {
  test('kills a worker that ignores SIGTERM at once, releases its socket, and is idempotent', async () => {
    const stubborn = writeScript('stubborn', "trap '' TERM\nwhile :; do sleep 1; done");
    const w = start({ command: stubborn });
    const socket = w.socketPath;
    await new Promise((r) => setTimeout(r, 200));
    w.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    expect(w.alive).toBe(true);
    w.destroy();
    w.destroy();
    const exit = await w.exited;
    expect(exit.signal).toBe('SIGKILL');
    expect(fs.existsSync(socket)).toBe(false);
  });
});
