/**
 * Reload (SIGHUP) and stop (SIGTERM) under load, and the admin listener, through the real CLI.
 */
import http from 'node:http';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { BIN, cleanupClis, cli, dir, ready, type Cli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';

afterEach(cleanupClis);

/** Runs node with these arguments to completion; resolves with stdout (rejects on a non-zero exit). */
function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, (err, stdout) => (err ? reject(new Error(err.message)) : resolve(stdout)));
  });
}

async function adminBase(c: Cli): Promise<string> {
  const line = await c.waitForLine((l) => l.msg === 'fcgipm ready');
  return `http://${String(line.admin)}`;
}

interface StatusJson {
  pid: number;
  generation: number;
  pools: Array<{
    name: string;
    generation: number;
    accepted: number;
    processes: Array<{ pid: number; state: string; generation: number; requests: number; startedAt: string }>;
  }>;
}

async function status(c: Cli): Promise<StatusJson> {
  const r = await httpRequest(`${await adminBase(c)}/status.json`);
  expect(r.status).toBe(200);
  return JSON.parse(r.body.toString()) as StatusJson;
}

test('reload under load: 32 clients for 30 s, 5 reloads, zero failed requests', async () => {
  const c = cli(['run', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--ipc-dir', path.join(dir(), 'sock'),
    '--max', '4', '--', fixture('slow')]);
  const base = await ready(c);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const counts = new Map<string, number>();
  const note = (k: string): void => void counts.set(k, (counts.get(k) ?? 0) + 1);
  const until = Date.now() + 30_000;
  const clients = Array.from({ length: 32 }, async () => {
    while (Date.now() < until) {
      try {
        const r = await httpRequest(`${base}/?sleep=5`, { agent });
        note(String(r.status));
      } catch (err) {
        note(`error ${(err as Error).message}`);
      }
    }
  });
  const reloads = (async () => {
    for (let i = 0; i < 5; i += 1) {
      await new Promise((r) => setTimeout(r, 5_000));
      c.child.kill('SIGHUP');
    }
  })();
  await Promise.all([...clients, reloads]);
  agent.destroy();
  expect([...counts.keys()]).toEqual(['200']);
  expect(counts.get('200')).toBeGreaterThan(1000);
  const s = await status(c);
  expect(s.generation).toBe(6);
  expect(s.pools[0]!.generation).toBe(6);
  expect(s.pools[0]!.processes.every((p) => p.generation === 6)).toBe(true);
  expect(c.lines.filter((l) => l.msg === 'generation ended').map((l) => l.generation)).toEqual([1, 2, 3, 4, 5]);
  c.child.kill('SIGTERM');
  expect((await c.exited).code).toBe(0);
}, 90_000);

test('stop under load: every request in flight completes, then exit 0', async () => {
  const c = cli(['run', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--ipc-dir', path.join(dir(), 'sock'),
    '--max', '8', '--', fixture('slow')]);
  const base = await ready(c);
  const inFlight = Array.from({ length: 32 }, () => httpRequest(`${base}/?sleep=700`));
  // Wait until all 32 are inside fcgipm (accepted by the pool), then stop it.
  for (let i = 0; i < 200; i += 1) {
    if ((await status(c)).pools[0]!.accepted >= 32) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  c.child.kill('SIGTERM');
  const results = await Promise.all(inFlight);
  expect(results.map((r) => r.status)).toEqual(Array(32).fill(200));
  expect((await c.exited).code).toBe(0);
});

test('/status.json keeps the keys of the contract; /healthz answers', async () => {
  const c = cli(['run', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--ipc-dir', path.join(dir(), 'sock'),
    '--min', '1', '--max', '3', '--', fixture('hello')]);
  const base = await ready(c);
  expect((await httpRequest(`${base}/`)).status).toBe(200);
  const s = await status(c);
  expect(s.pid).toBe(c.child.pid);
  expect(s.generation).toBe(1);
  const pool = s.pools[0]!;
  expect(pool).toMatchObject({ name: 'hello.fcgi', maxProcesses: 3, minProcesses: 1, queued: 0, accepted: 1 });
  expect(pool.processes.length).toBeGreaterThanOrEqual(1);
  for (const p of pool.processes) {
    expect(typeof p.pid).toBe('number');
    expect(['starting', 'idle', 'busy', 'draining']).toContain(p.state);
    expect(typeof p.requests).toBe('number');
    expect(new Date(p.startedAt).getTime()).toBeGreaterThan(0);
  }
  // fcgipm status: the same scoreboard for an operator, as a table or the JSON itself.
  const admin = (await adminBase(c)).replace('http://', '');
  const table = await run([BIN, 'status', '--admin', admin]);
  expect(table).toMatch(new RegExp(`^fcgipm pid ${String(c.child.pid)}, generation 1, `));
  expect(table).toMatch(/pool hello\.fcgi \(ondemand, generation 1\): \d+ processes .*min 1, max 3/);
  expect(table).toMatch(/accepted 1, completed 1, queued 0/);
  expect(table).toMatch(/^\s+PID\s+STATE\s+GEN\s+REQUESTS\s+UP\s+CURRENT$/m);
  const json = JSON.parse(await run([BIN, 'status', '--admin', admin, '--json'])) as StatusJson;
  expect(json.pid).toBe(c.child.pid);
  const health = await httpRequest(`${await adminBase(c)}/healthz`);
  expect(health.status).toBe(200);
  expect(health.body.toString()).toBe('ok\n');
});
