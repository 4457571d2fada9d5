/**
 * Socket activation through the real CLI. A small launcher does what systemd does for a
 * socket unit: binds and listens, puts the sockets on fds 3, 4… of the process it then execs
 * (fcgipm), with LISTEN_PID set to that process's pid, LISTEN_FDS and LISTEN_FDNAMES.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { BIN, cleanupClis, cli, dir, ready } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';

afterEach(cleanupClis);

/**
 * The launcher: each "tcp" (loopback), "tcp-any" (0.0.0.0) or "unix:PATH" argument before "--"
 * becomes a listening socket on the next fd from 3; "--names a:b" sets LISTEN_FDNAMES. Python, because it can exec with
 * chosen descriptors as systemd does (Node cannot exec).
 */
const LAUNCHER = String.raw`
import os, socket, sys
args = sys.argv[1:]
split = args.index('--')
specs, cmd = args[:split], args[split + 1:]
names = None
if specs and specs[0] == '--names':
    names, specs = specs[1], specs[2:]
ports = []
for i, spec in enumerate(specs):
    if spec in ('tcp', 'tcp-any'):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(('127.0.0.1' if spec == 'tcp' else '0.0.0.0', 0))
        ports.append(str(s.getsockname()[1]))
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(spec[len('unix:'):])
        ports.append(spec)
    s.listen(16)
    if s.fileno() != 3 + i:
        os.dup2(s.fileno(), 3 + i)
    # Python opens descriptors close-on-exec; systemd's arrive without the flag.
    os.set_inheritable(3 + i, True)
    s.detach()
sys.stderr.write('bound ' + ' '.join(ports) + '\n')
sys.stderr.flush()
os.environ['LISTEN_PID'] = str(os.getpid())
os.environ['LISTEN_FDS'] = str(len(specs))
if names is not None:
    os.environ['LISTEN_FDNAMES'] = names
os.execv(cmd[0], cmd)
`;

interface Activated {
  lines: Array<Record<string, unknown>>;
  bound: Promise<string[]>;
  exited: Promise<number | null>;
  stderr: () => string;
  kill: (signal: NodeJS.Signals) => void;
  waitForLine: (match: (l: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>;
}

const running: Activated[] = [];
afterEach(async () => {
  for (const a of running.splice(0)) {
    a.kill('SIGTERM');
    await a.exited;
  }
});

function activate(sockets: string[], fcgipmArgs: string[]): Activated {
  const child = spawn('python3', ['-c', LAUNCHER, ...sockets, '--', process.execPath, BIN, ...fcgipmArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  let buf = '';
  let err = '';
  let resolveBound: (p: string[]) => void = () => undefined;
  const bound = new Promise<string[]>((r) => (resolveBound = r));
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
    const m = /^bound (.*)$/m.exec(err);
    if (m) resolveBound((m[1] ?? '').split(' '));
  });
  child.stdout.on('data', (c: Buffer) => {
    buf += c.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (l.startsWith('{')) lines.push(JSON.parse(l) as Record<string, unknown>);
    }
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      for (const w of waiters.splice(0)) w();
      resolve(code);
    }),
  );
  const a: Activated = {
    lines,
    bound,
    exited,
    stderr: () => err,
    kill: (signal) => void (child.exitCode === null && child.kill(signal)),
    waitForLine: async (match) => {
      for (;;) {
        const found = lines.find(match);
        if (found) return found;
        if (child.exitCode !== null) throw new Error(`exited ${String(child.exitCode)}: ${err}`);
        await new Promise<void>((r) => waiters.push(r));
      }
    },
  };
  running.push(a);
  return a;
}

/** The socket inodes a process holds open, from /proc/PID/fd. */
function socketInodes(pid: number): string[] {
  return fs
    .readdirSync(`/proc/${pid}/fd`)
    .map((fd) => {
      try {
        return fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        return '';
      }
    })
    .filter((l) => l.startsWith('socket:'));
}

test('http, fastcgi and admin named by LISTEN_FDNAMES: fcgipm serves on the passed sockets, not the configured addresses; workers never hold them', async () => {
  const d = dir();
  const fcgiSock = path.join(d, 'fcgi.sock');
  const a = activate(['--names', 'http:fastcgi:admin', 'tcp', `unix:${fcgiSock}`, 'tcp'], [
    'run', '--allow-root', '--http', '127.0.0.1:1', '--fastcgi', `unix:${path.join(d, 'configured.sock')}`, '--admin', '127.0.0.1:1',
    '--ipc-dir', path.join(d, 'sock'), '--min', '1', '--', fixture('hello'),
  ]);
  const [httpPort, , adminPort] = await a.bound;
  const readyLine = await a.waitForLine((l) => l.msg === 'fcgipm ready');
  expect(readyLine).toMatchObject({ http: `127.0.0.1:${String(httpPort)}`, admin: `127.0.0.1:${String(adminPort)}`, fastcgi: `unix:${fcgiSock}` });
  expect((await httpRequest(`http://127.0.0.1:${String(httpPort)}/`)).status).toBe(200);
  expect((await httpRequest(`http://127.0.0.1:${String(adminPort)}/healthz`)).status).toBe(200);
  expect(fs.existsSync(path.join(d, 'configured.sock'))).toBe(false);
  // The FastCGI socket accepts connections.
  await new Promise<void>((resolve, reject) => {
    const s = net.connect(fcgiSock, () => {
      s.destroy();
      resolve();
    });
    s.once('error', reject);
  });
  // fd 3, 4, 5 of fcgipm are the listeners; no worker holds any of them.
  const manager = readyLine.manager as number;
  const listeners = [3, 4, 5].map((fd) => fs.readlinkSync(`/proc/${manager}/fd/${fd}`));
  expect(listeners.every((l) => l.startsWith('socket:'))).toBe(true);
  const worker = a.lines.find((l) => l.msg === 'worker started')!.pid as number;
  expect(socketInodes(worker).filter((s) => listeners.includes(s))).toEqual([]);
  a.kill('SIGTERM');
  expect(await a.exited).toBe(0);
  // The socket file is systemd's: fcgipm leaves it where it was.
  expect(fs.statSync(fcgiSock).isSocket()).toBe(true);
});

test('a single socket without a listener name is the HTTP listener', async () => {
  const d = dir();
  const a = activate(['--names', 'fcgipm.socket', 'tcp'], ['run', '--allow-root', '--http', '127.0.0.1:1', '--ipc-dir', path.join(d, 'sock'), '--', fixture('hello')]);
  const [port] = await a.bound;
  await a.waitForLine((l) => l.msg === 'fcgipm ready' && l.http === `127.0.0.1:${String(port)}`);
  expect((await httpRequest(`http://127.0.0.1:${String(port)}/`)).status).toBe(200);
  a.kill('SIGTERM');
  expect(await a.exited).toBe(0);
});

test('LISTEN_PID naming another process: the descriptors are not ours, the configured address is used', async () => {
  // fd 3 is a pipe here, which fcgipm must not take for a listener.
  const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(dir(), 'sock'), '--', fixture('hello')], 1, {
    env: { LISTEN_PID: '1', LISTEN_FDS: '1', LISTEN_FDNAMES: 'http' },
  });
  const base = await ready(c);
  expect((await httpRequest(`${base}/`)).status).toBe(200);
  c.child.kill('SIGTERM');
  expect((await c.exited).code).toBe(0);
});

test('an admin socket systemd bound off loopback, with no admin token file: fcgipm refuses to start, naming the address and both ways out', async () => {
  const a = activate(['--names', 'admin', 'tcp-any'], ['run', '--allow-root', '--http', '127.0.0.1:0', '--ipc-dir', path.join(dir(), 'ipc'), '--', fixture('hello')]);
  const [port] = await a.bound;
  expect(await a.exited).toBe(1);
  expect(a.stderr()).toContain(`admin listener 0.0.0.0:${String(port)} (--admin / listen.admin) is not on loopback and has no token`);
});
