import childProcess from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { InvalidArgumentError, SpawnError } from '../../src/errors';
import {
  EXEC_HELPER_EXEC_FAILED,
  EXEC_HELPER_PATH,
  EXEC_HELPER_SETUP_FAILED,
  HelperFailureWatch,
  execHelperArgs,
  helperFailure,
} from '../../src/spawn/exec-helper';
import { markInheritedDescriptorsCloexec } from '../../src/spawn/fd-hygiene';
import * as native from '../../src/spawn/native';
import { IpcDir } from '../../src/spawn/ipc-dir';
import { WorkerProcess, workerEnvironment, type WorkerExit, type WorkerSpawnOptions } from '../../src/spawn/worker-process';
import { CapturedLog, WARN, makeTempDir, readProbeReport, removeTempDir, requireProbe, type ProbeReport } from './helpers';

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const asRoot = isRoot ? test : test.skip;

let dir: string;
let ipc: IpcDir;
let log: CapturedLog;
let probe: string;
const started: WorkerProcess[] = [];

beforeAll(() => {
  probe = requireProbe();
  if (!fs.existsSync(EXEC_HELPER_PATH)) throw new Error(`${EXEC_HELPER_PATH} is missing: run "npm run install"`);
  markInheritedDescriptorsCloexec();
});

beforeEach(() => {
  dir = makeTempDir();
  ipc = new IpcDir({ dir: path.join(dir, 'sock') });
  ipc.prepare();
  log = new CapturedLog();
});

afterEach(async () => {
  jest.restoreAllMocks();
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

/** A probe that writes its report, says "probe ready" and serves; fails fast if it dies first. */
async function startServing(name: string, overrides: Partial<WorkerSpawnOptions> = {}): Promise<{ w: WorkerProcess; report: ProbeReport }> {
  const file = path.join(dir, name);
  const w = start({ ...overrides, env: { PROBE_REPORT: file, PROBE_READY: '1', ...overrides.env } });
  const died = w.exited.then((exit) => {
    throw new Error(`probe exited before it was ready: ${JSON.stringify({ code: exit.code, signal: exit.signal, error: exit.error?.message })}`);
  });
  await Promise.race([log.waitFor((r) => r.msg === 'worker output' && r.line === `probe ready ${w.pid}`), died]);
  died.catch(() => undefined);
  return { w, report: readProbeReport(file) };
}

/** A probe that writes its report and exits 0. */
async function runToExit(overrides: Partial<WorkerSpawnOptions> = {}): Promise<{ w: WorkerProcess; exit: WorkerExit; report: ProbeReport }> {
  const file = path.join(dir, 'report');
  const w = start({ ...overrides, env: { PROBE_REPORT: file, PROBE_EXIT: '0', ...overrides.env } });
  const exit = await w.exited;
  if (exit.error) throw exit.error;
  return { w, exit, report: readProbeReport(file) };
}

/**
 * The test's own directory opened to everyone, with a copy of `file` in it: the checkout may
 * sit below a directory nobody cannot enter (a 0700 temp dir in CI).
 */
function copyForNobody(file: string, name = path.basename(file)): string {
  fs.chmodSync(dir, 0o777);
  const copy = path.join(dir, name);
  fs.copyFileSync(file, copy);
  fs.chmodSync(copy, 0o755);
  return copy;
}

function writeScript(name: string, body: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

/** Watches child_process.spawn from here on; returns the files it was asked to run so far. */
function watchSpawn(): () => string[] {
  const spy = jest.spyOn(native, 'spawnProcess');
  return () => spy.mock.calls.map((call) => call[0].file);
}

function spawnError(fn: () => unknown): SpawnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SpawnError) return err;
    throw err;
  }
  throw new Error('expected a SpawnError');
}

/** One FastCGI request (responder, no keep-conn, empty PARAMS and STDIN) to socketPath; the reply as text. */
async function fastcgiRequest(socketPath: string): Promise<string> {
  const request = Buffer.from([1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 4, 0, 1, 0, 0, 0, 0, 1, 5, 0, 1, 0, 0, 0, 0]);
  const socket = net.connect(socketPath);
  socket.end(request);
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('latin1');
}

describe('the helper command line', () => {
  test('nothing to apply means no helper; each option becomes its flag, in the order the helper applies them', () => {
    expect(execHelperArgs({})).toBeUndefined();
    expect(execHelperArgs({ limits: {} })).toBeUndefined();
    expect(execHelperArgs({ groups: [] })).toEqual(['--groups', '']);
    expect(
      execHelperArgs({
        uid: 33,
        gid: 34,
        groups: [5, 6],
        umask: 0o27,
        nice: -3,
        limits: { nproc: 50, addressSpace: 'unlimited', core: 0, nofile: 64 },
      }),
    ).toEqual(['--nofile', '64', '--core', '0', '--as', 'unlimited', '--nproc', '50', '--nice', '-3', '--umask', '0027', '--groups', '5,6', '--gid', '34', '--uid', '33']);
  });

  test('bad values throw InvalidArgumentError naming the option, before anything is created', () => {
    const bad: [Partial<WorkerSpawnOptions>, RegExp][] = [
      [{ limits: { nofile: -1 } }, /limits\.nofile/],
      [{ limits: { core: 1.5 } }, /limits\.core/],
      [{ limits: { addressSpace: 'lots' as unknown as number } }, /limits\.addressSpace/],
      [{ limits: { cpu: 10 } as unknown as WorkerSpawnOptions['limits'] }, /unknown limit limits\.cpu/],
      [{ nice: 20 }, /nice/],
      [{ nice: -21 }, /nice/],
      [{ umask: 0o1000 }, /umask/],
      [{ groups: [-1] }, /groups/],
      [{ groups: [1.5] }, /groups/],
      [{ uid: 2 ** 32 }, /uid/],
      [{ gid: -1 }, /gid/],
      [{ allowRoot: 'yes' as unknown as boolean }, /allowRoot/],
    ];
    const files = watchSpawn();
    for (const [options, message] of bad) {
      const socketPath = path.join(dir, 'never');
      expect(() => WorkerProcess.spawn({ command: probe, socketPath, logger: log.logger, ...options })).toThrow(InvalidArgumentError);
      expect(() => WorkerProcess.spawn({ command: probe, socketPath, logger: log.logger, ...options })).toThrow(message);
      expect(fs.existsSync(socketPath)).toBe(false);
    }
    expect(files()).toEqual([]);
  });
});

describe('the helper program', () => {
  function runHelper(args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = childProcess.spawnSync(EXEC_HELPER_PATH, args, { encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  test('a bad command line exits 126 with one line naming the argument', () => {
    const cases: [string[], string][] = [
      [['--nofile', 'many', '--', probe, probe], 'fcgipm-exec: argument(--nofile many): Invalid argument\n'],
      [['--nofile', '-1', '--', probe, probe], 'fcgipm-exec: argument(--nofile -1): Invalid argument\n'],
      [['--nice', '20', '--', probe, probe], 'fcgipm-exec: argument(--nice 20): Numerical result out of range\n'],
      [['--umask', '0778', '--', probe, probe], 'fcgipm-exec: argument(--umask 0778): Invalid argument\n'],
      [['--groups', '1,,2', '--', probe, probe], 'fcgipm-exec: argument(--groups 1,,2): Invalid argument\n'],
      [['--uid', '4294967295', '--', probe, probe], 'fcgipm-exec: argument(--uid 4294967295): Numerical result out of range\n'],
      [['--cpu', '1', '--', probe, probe], 'fcgipm-exec: argument(--cpu 1): Invalid argument\n'],
      [['--nofile', '--', probe, probe], 'fcgipm-exec: argument(--nofile (no value)): Invalid argument\n'],
      [['--', probe], 'fcgipm-exec: argument(-- PATH ARG0 [ARG...] missing): Invalid argument\n'],
      [[probe, probe], `fcgipm-exec: argument(${probe} ${probe}): Invalid argument\n`],
    ];
    for (const [args, line] of cases) {
      expect(runHelper(args)).toEqual({ status: EXEC_HELPER_SETUP_FAILED, stdout: '', stderr: line });
    }
  });

  test('an exec failure exits 127 with the execv line', () => {
    const missing = path.join(dir, 'missing');
    expect(runHelper(['--umask', '022', '--', missing, 'x'])).toEqual({
      status: EXEC_HELPER_EXEC_FAILED,
      stdout: '',
      stderr: `fcgipm-exec: execv(${missing}): No such file or directory\n`,
    });
  });

  test('ARG0 and the arguments reach the program as given, the environment untouched', () => {
    const file = path.join(dir, 'report');
    const env = { KEEP: 'kept', PATH: '/usr/bin:/bin', PROBE_REPORT: file, PROBE_EXIT: '0' };
    const r = childProcess.spawnSync(EXEC_HELPER_PATH, ['--nice', '0', '--', probe, 'name-0', 'one two', ''], { encoding: 'utf8', env });
    expect([r.status, r.stdout, r.stderr]).toEqual([0, '', '']);
    const report = readProbeReport(file);
    expect(report.argv).toEqual(['name-0', 'one two', '']);
    expect(report.env).toEqual(env);
  });
});

describe('limits, nice and umask', () => {
  test('are applied, reported by the probe, with fd 0 and the pid unchanged', async () => {
    const files = watchSpawn();
    const { w, report } = await startServing('report', {
      limits: { nofile: 64, core: 0, addressSpace: 8 * 1024 ** 3, nproc: 4096 },
      nice: 5,
      umask: 0o027,
    });
    expect(files()).toEqual([EXEC_HELPER_PATH]);
    expect(report.rlimits).toEqual({
      nofile: { soft: 64, hard: 64 },
      core: { soft: 0, hard: 0 },
      as: { soft: 8 * 1024 ** 3, hard: 8 * 1024 ** 3 },
      nproc: { soft: 4096, hard: 4096 },
    });
    expect(report.nice).toBe(5);
    expect(report.umask).toBe(0o027);
    // Exec in place: the pid Node reports is the app's, the app's argv is the command's own.
    expect(report.pid).toBe(w.pid);
    expect(fs.readlinkSync(`/proc/${w.pid}/exe`)).toBe(probe);
    expect(report.argv).toEqual([probe]);
    // The helper opened nothing and passed the listening socket on as fd 0.
    expect(report.fds).toEqual([0, 1, 2]);
    expect([report.acceptconn, report.nonblock, report.sockname]).toEqual(['1', '0', w.socketPath]);
    expect(report.pgid).toBe(w.pid);
    expect(report.env).toEqual({ ...workerEnvironment({ PROBE_REPORT: path.join(dir, 'report'), PROBE_READY: '1' }) });
    expect(await fastcgiRequest(w.socketPath)).toContain(`probe ${w.pid}`);
  });

  test("'unlimited' is RLIM_INFINITY; args pass through the helper", async () => {
    const { report } = await runToExit({ limits: { core: 'unlimited' }, args: ['one', 'two words'] });
    expect(report.rlimits.core).toEqual({ soft: 'unlimited', hard: 'unlimited' });
    expect(report.argv).toEqual([probe, 'one', 'two words']);
  });

  test('without any of them the command is spawned directly, no helper in between', async () => {
    const files = watchSpawn();
    const { w, report } = await startServing('report', { limits: {} });
    expect(files()).toEqual([probe]);
    expect(fs.readlinkSync(`/proc/${w.pid}/exe`)).toBe(probe);
    expect(report.argv).toEqual([probe]);
    expect(report.pid).toBe(w.pid);
  });

  test('a limit the kernel refuses: exit 126 and a SpawnError carrying the helper line, which is logged too', async () => {
    const nrOpen = Number(fs.readFileSync('/proc/sys/fs/nr_open', 'utf8'));
    const w = start({ limits: { nofile: nrOpen + 1 } });
    expect(w.pid).toBeDefined();
    const exit = await w.exited;
    const line = `fcgipm-exec: setrlimit(RLIMIT_NOFILE, ${nrOpen + 1}): Operation not permitted`;
    expect(exit.code).toBe(EXEC_HELPER_SETUP_FAILED);
    expect(exit.error).toBeInstanceOf(SpawnError);
    expect(exit.error?.message).toBe(`cannot start ${probe}: ${line}`);
    expect(log.output('stderr').map((r) => r.line)).toEqual([line]);
    expect(log.records.find((r) => r.msg === 'worker process could not be started')).toMatchObject({ level: WARN, err: exit.error?.message });
    expect(fs.existsSync(w.socketPath)).toBe(false);
  });

  test("an app's own exit 126/127 is not mistaken for the helper's", async () => {
    const notFound = writeScript('not-found.sh', 'echo "sh: 1: frobnicate: not found" >&2\nexit 127');
    expect(await start({ command: notFound, umask: 0o022 }).exited).toEqual({ code: 127, signal: null });
    const twoLines = writeScript('two-lines.sh', 'echo "fcgipm-exec: execv(/x): No such file or directory" >&2\necho more >&2\nexit 127');
    expect(await start({ command: twoLines, umask: 0o022 }).exited).toEqual({ code: 127, signal: null });
    // Spawned directly, a helper-like line means nothing either.
    const direct = writeScript('direct.sh', 'echo "fcgipm-exec: execv(/x): No such file or directory" >&2\nexit 127');
    expect(await start({ command: direct }).exited).toEqual({ code: 127, signal: null });
    const silent = writeScript('silent.sh', 'exit 126');
    expect(await start({ command: silent, nice: 1 }).exited).toEqual({ code: 126, signal: null });
  });
});

describe('identity', () => {
  asRoot('uid and gid 65534 with limits: no supplementary groups, socket owned by the worker', async () => {
    const copy = copyForNobody(probe);
    const { w, report } = await startServing('report-nobody', {
      command: copy,
      uid: NOBODY,
      gid: NOBODY,
      limits: { nofile: 64, nproc: 1000 },
      nice: 5,
      umask: 0o027,
    });
    expect([report.uid, report.gid]).toEqual([NOBODY, NOBODY]);
    expect(report.groups).toEqual([]);
    expect(report.rlimits.nofile).toEqual({ soft: 64, hard: 64 });
    expect(report.rlimits.nproc).toEqual({ soft: 1000, hard: 1000 });
    expect([report.nice, report.umask]).toEqual([5, 0o027]);
    expect(fs.statSync(path.join(dir, 'report-nobody')).mode & 0o777).toBe(0o640);
    const stats = fs.lstatSync(w.socketPath);
    expect([stats.uid, stats.gid, stats.mode & 0o777]).toEqual([NOBODY, NOBODY, 0o600]);
  });

  asRoot('explicit supplementary groups are set', async () => {
    const copy = copyForNobody(probe);
    const { report } = await startServing('report-groups', { command: copy, uid: NOBODY, gid: NOBODY, groups: [4242, 4343] });
    expect(report.groups).toEqual([4242, 4343]);
  });

  asRoot('the socket directory needs no traversal by the worker: a nobody worker serves behind a root-owned 0700 dir', async () => {
    const copy = copyForNobody(probe);
    const stats = fs.statSync(ipc.dir);
    expect([stats.uid, stats.mode & 0o777]).toEqual([0, 0o700]);
    const { w } = await startServing('report-traverse', { command: copy, uid: NOBODY, gid: NOBODY });
    expect(await fastcgiRequest(w.socketPath)).toContain(`probe ${w.pid}`);
  });

  asRoot('a binary in a directory the user cannot reach: exit 127 and a SpawnError naming execv', async () => {
    const hidden = path.join(dir, 'hidden');
    fs.mkdirSync(hidden, { mode: 0o700 });
    const copy = path.join(hidden, 'probe.fcgi');
    fs.copyFileSync(probe, copy);
    fs.chmodSync(copy, 0o755);
    fs.chmodSync(dir, 0o777);
    const w = start({ command: copy, uid: NOBODY, gid: NOBODY });
    const exit = await w.exited;
    const line = `fcgipm-exec: execv(${copy}): Permission denied`;
    expect(exit.code).toBe(EXEC_HELPER_EXEC_FAILED);
    expect(exit.error).toBeInstanceOf(SpawnError);
    expect(exit.error?.message).toBe(`cannot start ${copy}: ${line}`);
    expect(log.output('stderr').map((r) => r.line)).toEqual([line]);
  });

  asRoot('setrlimit failing in the helper itself, run as nobody: exit 126 with its line', async () => {
    const helper = copyForNobody(EXEC_HELPER_PATH);
    const copy = copyForNobody(probe);
    const hard = Number(/^Max open files\s+\S+\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))?.[1]);
    // The outer helper drops to nobody without touching limits; the inner one, as nobody,
    // asks for more than the hard limit it inherited.
    const w = start({ command: helper, args: ['--nofile', String(hard + 1), '--', copy, copy], uid: NOBODY, gid: NOBODY });
    const exit = await w.exited;
    const line = `fcgipm-exec: setrlimit(RLIMIT_NOFILE, ${hard + 1}): Operation not permitted`;
    expect(exit.code).toBe(EXEC_HELPER_SETUP_FAILED);
    expect(exit.error?.message).toBe(`cannot start ${helper}: ${line}`);
    expect(log.output('stderr').map((r) => r.line)).toEqual([line]);
  });

  asRoot('nproc is enforced at exec: a user over the limit gets EAGAIN from execv', async () => {
    const copy = copyForNobody(probe);
    // One nobody process running, and a limit of 0 others.
    await startServing('report-first', { command: copy, uid: NOBODY, gid: NOBODY });
    const exit = await start({ command: copy, uid: NOBODY, gid: NOBODY, limits: { nproc: 0 } }).exited;
    expect(exit.code).toBe(EXEC_HELPER_EXEC_FAILED);
    expect(exit.error?.message).toBe(`cannot start ${copy}: fcgipm-exec: execv(${copy}): Resource temporarily unavailable`);
  });

  test('root is refused without allowRoot: uid 0, gid 0, group 0, or a uid keeping the manager gid 0', () => {
    const files = watchSpawn();
    const refused: Partial<WorkerSpawnOptions>[] = [{ uid: 0 }, { uid: 0, gid: NOBODY }, { uid: NOBODY, gid: 0 }, { gid: 0 }, { groups: [10, 0] }];
    if (process.getgid?.() === 0) refused.push({ uid: NOBODY });
    for (const options of refused) {
      const socketPath = path.join(dir, 'never');
      const err = spawnError(() => WorkerProcess.spawn({ command: probe, socketPath, logger: log.logger, ...options }));
      expect(err.message).toMatch(/^refusing to run workers as root \(.*\): set a user for them \(--user USER, or user: in the config\) or allow root/);
      expect(err.code).toBe('FCGIPM_ERR_SPAWN');
      expect(fs.existsSync(socketPath)).toBe(false);
    }
    expect(files()).toEqual([]);
  });

  asRoot('allowRoot lets a worker run as root', async () => {
    const { report } = await runToExit({ uid: 0, gid: 0, allowRoot: true });
    expect([report.uid, report.gid]).toEqual([0, 0]);
    expect(report.groups).toEqual([]);
  });

  test("the manager's own user needs no allowRoot", async () => {
    const { report } = await runToExit({ umask: 0o077 });
    expect(report.uid).toBe(process.getuid?.());
    expect(report.umask).toBe(0o077);
  });
});

describe('HelperFailureWatch', () => {
  function watch(chunks: string[]): HelperFailureWatch {
    const stream = new PassThrough();
    const w = new HelperFailureWatch(stream);
    for (const chunk of chunks) stream.write(chunk);
    return w;
  }

  test('a helper line split over chunks is recognised; anything more or else is not', () => {
    const line = 'fcgipm-exec: setuid(33): Operation not permitted';
    expect(watch(['fcg', 'ipm-exec: set', 'uid(33): Operation not permitted\n']).line()).toBe(line);
    expect(watch([`${line}\n`, 'and then the app\n']).line()).toBeUndefined();
    expect(watch(['PHP Warning: fcgipm-exec: x\n']).line()).toBeUndefined();
    expect(watch([`fcgipm-exec: ${'x'.repeat(5000)}\n`]).line()).toBeUndefined();
    expect(watch([]).line()).toBeUndefined();
  });

  test('helperFailure needs the exit status 126 or 127 and a watch', () => {
    const line = 'fcgipm-exec: execv(/x): No such file or directory';
    const w = watch([`${line}\n`]);
    expect(helperFailure('/x', 127, w)?.message).toBe(`cannot start /x: ${line}`);
    expect(helperFailure('/x', 126, w)).toBeInstanceOf(SpawnError);
    expect(helperFailure('/x', 1, w)).toBeUndefined();
    expect(helperFailure('/x', null, w)).toBeUndefined();
    expect(helperFailure('/x', 127, undefined)).toBeUndefined();
  });
});
