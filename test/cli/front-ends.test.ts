/**
 * `fcgipm run --front-ends N`: N fcgipm processes on one HTTP port (SO_REUSEPORT), each with
 * its share of the workers. The real CLI, real signals, real libfcgi workers.
 */
import fs from 'node:fs';
import path from 'node:path';
import { frontEndArgs, frontEndOf, shareOf } from '../../src/cli/front-ends';
import { parseRunArgs } from '../../src/cli/run-args';
import { cleanupClis, cli, dir, type Cli } from '../helpers/cli';
import { fixture, processAlive } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';
import { freePort } from '../helpers/web-servers';

afterEach(cleanupClis);

const alive = processAlive;

const waitFor = async (check: () => boolean, what: string, ms = 10_000): Promise<void> => {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** Worker pid → the front end whose manager started it, from the "worker started" lines. */
function workers(c: Cli): Map<number, number> {
  const m = new Map<number, number>();
  for (const l of c.lines) if (l.msg === 'worker started') m.set(l.pid as number, l.frontEnd as number);
  return m;
}

describe('sharing out the workers', () => {
  test('each front end gets an equal share of --min and --max, the first ones the remainder', () => {
    expect([0, 1, 2].map((i) => shareOf(8, i, 3))).toEqual([3, 3, 2]);
    const args = parseRunArgs(['--http', '127.0.0.1:8080', '--admin', '127.0.0.1:9000', '--front-ends', '3', '--min', '4', '--max', '8', '--', '/bin/true']);
    const second = frontEndArgs(args, { index: 1, count: 3 });
    expect([second.pool.minProcesses, second.pool.maxProcesses, second.reusePort, second.admin]).toEqual([1, 3, true, undefined]);
    expect(frontEndArgs(args, frontEndOf(args)).admin).toEqual({ host: '127.0.0.1', port: 9000 });
  });

  test('splits that cannot work are refused, naming the option', () => {
    const parse = (...extra: string[]) => parseRunArgs([...extra, '--front-ends', '2', '--', '/bin/true']);
    expect(() => frontEndArgs(parse('--http', '127.0.0.1:0'), { index: 0, count: 2 })).toThrow(/--front-ends: give --http a fixed port/);
    expect(() => frontEndArgs(parse('--http', 'off'), { index: 0, count: 2 })).toThrow(/--front-ends: there is no HTTP front end/);
    expect(() => frontEndArgs(parse('--http', '127.0.0.1:8080', '--max', '1'), { index: 0, count: 2 })).toThrow(/--max 1 leaves a front end without a process/);
  });
});

describe('fcgipm run --front-ends 2', () => {
  test('both front ends serve the port with their own workers; SIGHUP reloads both; SIGTERM stops everything', async () => {
    const ipc = path.join(dir(), 'sock');
    const port = await freePort();
    const c = cli(['run', '--http', `127.0.0.1:${port}`, '--ipc-dir', ipc, '--front-ends', '2', '--min', '4', '--max', '4', '--', fixture('hello')]);
    await waitFor(() => c.lines.filter((l) => l.msg === 'fcgipm ready').length === 2, 'two front ends ready');
    await waitFor(() => workers(c).size === 4, 'four workers');
    expect([...workers(c).values()].sort()).toEqual([0, 0, 1, 1]);

    // Fresh connections: the kernel spreads them over both listeners.
    const bodies = await Promise.all(Array.from({ length: 40 }, () => httpRequest(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } })));
    expect(bodies.map((r) => r.status)).toEqual(Array(40).fill(200));
    const served = new Set(bodies.map((r) => workers(c).get(Number(/pid=(\d+)/.exec(r.body.toString())?.[1]))));
    expect([...served].sort()).toEqual([0, 1]);

    c.child.kill('SIGHUP');
    await waitFor(() => c.lines.filter((l) => l.msg === 'new generation').length === 2, 'both front ends reloaded');

    c.child.kill('SIGTERM');
    expect(await c.exited).toEqual({ code: 0, signal: null });
    expect(c.lines.filter((l) => l.msg === 'stopped').map((l) => l.frontEnd).sort()).toEqual([0, 1]);
    expect([...workers(c).keys()].filter(alive)).toEqual([]);
    expect(fs.readdirSync(ipc)).toEqual([]);
  });

  test('a front end that dies is started again; when the first one dies, the others stop', async () => {
    const ipc = path.join(dir(), 'sock');
    const port = await freePort();
    const c = cli(['run', '--http', `127.0.0.1:${port}`, '--ipc-dir', ipc, '--front-ends', '2', '--max', '2', '--', fixture('hello')]);
    await waitFor(() => c.lines.filter((l) => l.msg === 'fcgipm ready').length === 2, 'two front ends ready');
    const second = c.lines.find((l) => l.msg === 'fcgipm ready' && l.frontEnd === 1)!.manager as number;
    process.kill(second, 'SIGKILL');
    await waitFor(() => c.lines.some((l) => l.msg === 'a front end exited; starting it again' && l.otherFrontEnd === 1), 'restart logged');
    await waitFor(() => c.lines.filter((l) => l.msg === 'fcgipm ready' && l.frontEnd === 1).length === 2, 'second front end back');
    const again = c.lines.filter((l) => l.msg === 'fcgipm ready' && l.frontEnd === 1)[1]!.manager as number;
    expect(again).not.toBe(second);

    // The first one killed outright: the other hears its channel close and stops by itself.
    c.child.kill('SIGKILL');
    await waitFor(() => !alive(again), 'the second front end stopped', 15_000);
    expect(c.lines.some((l) => l.msg === 'stopped' && l.manager === again)).toBe(true);
    // The first one's own workers outlive it (a SIGKILLed manager cannot stop them); the next
    // start reclaims them. Stop them here.
    for (const pid of workers(c).keys()) if (alive(pid)) process.kill(pid, 'SIGTERM');
  });
});
