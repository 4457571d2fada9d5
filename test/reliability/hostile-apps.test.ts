/**
 * Hostile apps: FastCGI apps that get the protocol wrong on purpose (fixtures/fcgi-apps/hostile.c)
 * behind a real `fcgipm serve` process. Each case checks what the client gets, that the pool
 * answers 200 again afterwards, and that the manager is unaffected (its pid's RSS and fds, read
 * from /proc). The peer is Apache httpd + mod_fcgid running the same fixture where that is
 * cheap (one private instance for the file), else what mod_fcgid does by design.
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { cleanupClis, cli, dir, ready, type Cli } from '../helpers/cli';
import { fixtureForAnyUser, tempDir } from '../helpers/fixtures';
import { httpRequest, type HttpResult } from '../helpers/http-client';
import { mib, n, recordFigure } from './figures';

jest.setTimeout(60_000);

// Copies any uid can run: the bomb's pool runs as BOMB_UID, and the checkout may sit below a
// directory others cannot enter (a 0700 temp dir in CI).
const HOSTILE = fixtureForAnyUser('hostile');
const HELLO = fixtureForAnyUser('hello');
const MiB = 1024 * 1024;
/** A uid with no passwd entry and no other process: the bomb's nproc limit binds it alone. */
const BOMB_UID = 64123;
const NPROC = 24;
/** The issue's bound on the manager's memory growth under a hostile app. */
const GROWTH_LIMIT = 16 * MiB;

interface ApacheHandle {
  base: string;
  logFile: string;
  child: { pid: number; stop(): Promise<unknown> };
}
interface ApacheLib {
  missingPieces(): { missing: string[] };
  startApache(options: { fixtures: string[]; threads: number; fcgid?: Array<[string, string]> }, scratch: string): Promise<ApacheHandle>;
}
// bench/lib starts private peers from generated configs (never the system's services).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const apacheLib = require('../../bench/lib/apache') as ApacheLib;

/** VmRSS and VmHWM of a process, in bytes. */
function memory(pid: number): { rss: number; hwm: number } {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** Running (not gone, not a zombie waiting for its reaper). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Blocked in accept(2)/accept4(2) on fd 0 (x86-64 and arm64 syscall numbers): waiting for a request. */
function inAccept(pid: number): boolean {
  const numbers: Record<string, number[]> = { x64: [43, 288], arm64: [202, 242] };
  try {
    const [nr, fd] = fs.readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ');
    return (numbers[process.arch] ?? []).includes(Number(nr)) && fd === '0x0';
  } catch {
    return false;
  }
}

/** Pids of the live processes of a uid, from /proc. */
function processesOf(uid: number): number[] {
  const pids: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const status = fs.readFileSync(`/proc/${e}/status`, 'utf8');
      if (new RegExp(`^Uid:\\s+${uid}\\s`, 'm').test(status) && !/^State:\s+Z/m.test(status)) pids.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Polls `check` every 20 ms (a state in /proc, which sends no event) until it holds or `ms` pass. */
async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** `fcgipm serve` on a config with the hostile app under /hostile and hello under /hello (another pool). */
function serve(d: string, hostile: string, top = ''): Cli {
  const file = path.join(d, 'fcgipm.yaml');
  fs.writeFileSync(
    file,
    `ipcDir: ${path.join(d, 'sock')}
listen: { http: "127.0.0.1:0" }
defaults: { allowRoot: true, maxProcesses: 2 }
${top}sites:
  - apps:
      - { prefix: /hostile, command: ${HOSTILE}${hostile} }
      - { prefix: /hello, command: ${HELLO} }
`,
  );
  return cli(['serve', '--config', file]);
}

const get = (url: string): Promise<HttpResult> => httpRequest(url);

async function timed(url: string): Promise<HttpResult & { ms: number }> {
  const t0 = performance.now();
  const r = await get(url);
  return { ...r, ms: performance.now() - t0 };
}

/** A request to the peer, given up after `ms` (mod_fcgid may never answer): "502 in 12 ms" or "no answer in 3 s". */
async function peerGet(url: string, ms = 5_000): Promise<{ text: string; status: number }> {
  const t0 = performance.now();
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(ms) });
    await r.arrayBuffer();
    return { status: r.status, text: `${r.status} in ${n(performance.now() - t0)} ms` };
  } catch {
    return { status: 0, text: `no answer in ${ms / 1000} s` };
  }
}

let apache: ApacheHandle | undefined;
let apacheDir = '';

/** One private Apache + mod_fcgid serving the hostile fixture at /hostile, for the whole file. */
async function peer(): Promise<ApacheHandle | undefined> {
  if (apache || apacheLib.missingPieces().missing.length > 0) return apache;
  // Not dir(): that is removed after each test, and this instance serves the whole file.
  apacheDir = tempDir('fcgipm-apache-');
  apache = await apacheLib.startApache({ fixtures: ['hostile'], threads: 4, fcgid: [['FcgidMaxRequestLen', '1048576']] }, apacheDir);
  const base = apache.base;
  await until(() => fs.existsSync(path.join(apacheDir, 'httpd.pid')), 10_000);
  for (let i = 0; i < 100; i += 1) {
    if ((await peerGet(`${base}/hostile?mode=ok`)).status === 200) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  return apache;
}

/** Sum of VmRSS over Apache's processes (its parent, the children, the fcgid manager). */
function apacheRss(a: ApacheHandle): number {
  let sum = 0;
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgid === a.child.pid && /\(apache2\)/.test(stat)) sum += memory(Number(e)).rss;
    } catch {
      // gone meanwhile
    }
  }
  return sum;
}

/** Pids a case started indirectly (a bomb, an orphan): killed after it if fcgipm left them. */
const strays = new Set<number>();

afterEach(async () => {
  await cleanupClis();
  for (const pid of [...strays, ...processesOf(BOMB_UID)]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  strays.clear();
});
afterAll(async () => {
  if (!apache) return;
  // Its own process group holds httpd, the fcgid manager and the apps (mod_fcgid keeps them
  // in httpd's group): killed at once, rather than waiting out mod_fcgid's 3-s wake-ups.
  try {
    process.kill(-apache.child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  await apache.child.stop();
  apache = undefined;
  fs.rmSync(apacheDir, { recursive: true, force: true });
});

describe('endless and huge CGI header blocks', () => {
  test('502 at the 64 KiB header limit, the pool answers 200 next, the manager stays small', async () => {
    const c = serve(dir(), '');
    const base = await ready(c);
    const manager = c.child.pid!;
    expect((await get(`${base}/hostile?mode=ok`)).status).toBe(200);
    const before = memory(manager);
    const endless = await timed(`${base}/hostile?mode=endless`);
    const huge = await timed(`${base}/hostile?mode=huge&bytes=${16 * MiB}`);
    const next = await get(`${base}/hostile?mode=ok`);
    const after = memory(manager);
    const growth = after.hwm - before.rss;
    // The worker's connection was closed at the limit: it is back in accept() on fd 0, not
    // stuck writing the rest of its header block to a connection nobody reads.
    const failedPids = c.lines.filter((l) => l.msg === 'request failed').map((l) => Number(l.pid));
    const backInAccept = await until(() => failedPids.every(inAccept), 3_000);
    const a = await peer();
    const pRss = a ? apacheRss(a) : 0;
    // mod_fcgid keeps reading an endless header block into memory: 64 MiB of it, not for ever.
    const pEndless = a ? await peerGet(`${a.base}/hostile?mode=endless&mib=64`, 20_000) : undefined;
    const pRssAfter = a ? apacheRss(a) : 0;
    const pHuge = a ? await peerGet(`${a.base}/hostile?mode=huge&bytes=${16 * MiB}`) : undefined;
    const pNext = a ? await peerGet(`${a.base}/hostile?mode=ok`) : undefined;
    recordFigure({
      section: 'apps',
      case: 'endless header block; one 16 MiB header line',
      userSees: '502 once the header block passes 64 KiB, at once; the worker serves on; the next request 200; manager growth ≤ 16 MiB',
      measured: `endless: ${endless.status} in ${n(endless.ms)} ms; 16 MiB line: ${huge.status} in ${n(huge.ms)} ms (${String(endless.headers['x-fcgipm-error'])}); next ${next.status}; the worker ${backInAccept ? 'back in accept()' : 'not back in accept()'}; manager RSS ${mib(before.rss)} → peak ${mib(after.hwm)} (+${mib(growth)})`,
      peer: pEndless && pHuge && pNext
        ? `Apache + mod_fcgid, same fixture: 64 MiB endless header: ${pEndless.text} (httpd RSS ${mib(pRss)} → ${mib(pRssAfter)}); 16 MiB line: ${pHuge.text}; next ${pNext.text}`
        : 'Apache + mod_fcgid: not installed here',
    });
    for (const r of [endless, huge]) {
      expect(r.status).toBe(502);
      expect(r.headers['x-fcgipm-error']).toBe('FCGIPM_ERR_LIMIT');
      expect(r.ms).toBeLessThan(5_000);
    }
    expect(next.status).toBe(200);
    expect(backInAccept).toBe(true);
    expect(growth).toBeLessThanOrEqual(GROWTH_LIMIT);
    const failed = c.lines.filter((l) => l.msg === 'request failed' && l.code === 'FCGIPM_ERR_LIMIT');
    expect(failed).toHaveLength(2);
    for (const l of failed) expect(l).toMatchObject({ pool: expect.any(String), pid: expect.any(Number), err: 'CGI header block exceeds 65536 bytes' });
  });
});

describe('invalid records, wrong request ids, END_REQUEST without STDOUT', () => {
  test('502 with a log line naming the pool and the pid; the pool and the manager carry on', async () => {
    const c = serve(dir(), '');
    const base = await ready(c);
    const manager = c.child.pid!;
    await get(`${base}/hostile?mode=ok`);
    await get(`${base}/hello`);
    const fdsBefore = fdCount(manager);
    const modes = ['bad-version', 'garbage', 'wrong-id', 'end-only'];
    const seen: Array<{ mode: string; status: number; code: string; next: number }> = [];
    for (const mode of modes) {
      const r = await get(`${base}/hostile?mode=${mode}`);
      const next = await get(`${base}/hostile?mode=ok`);
      seen.push({ mode, status: r.status, code: String(r.headers['x-fcgipm-error']), next: next.status });
    }
    const other = await get(`${base}/hello`);
    const fdsAfter = fdCount(manager);
    const a = await peer();
    const peerSeen: string[] = [];
    for (const mode of a ? modes : []) {
      const r = await peerGet(`${a!.base}/hostile?mode=${mode}`);
      const next = await peerGet(`${a!.base}/hostile?mode=ok`);
      peerSeen.push(`${mode} ${r.text}, next ${next.status}`);
    }
    recordFigure({
      section: 'apps',
      case: 'bad record version, garbage bytes, wrong request id, END_REQUEST without STDOUT',
      userSees: '502 for each, a warning naming pool and worker pid, the next request 200, no crash',
      measured: `${seen.map((s) => `${s.mode} ${s.status} (${s.code}), next ${s.next}`).join('; ')}; other pool ${other.status}; manager fds ${fdsBefore} → ${fdsAfter}`,
      peer: a ? `Apache + mod_fcgid, same fixture: ${peerSeen.join('; ')}` : 'Apache + mod_fcgid: not installed here',
    });
    for (const s of seen) {
      expect(s.status).toBe(502);
      expect(s.next).toBe(200);
    }
    expect(other.status).toBe(200);
    // A worker replaced after a protocol error brings its own two output pipes and connection.
    expect(fdsAfter).toBeLessThanOrEqual(fdsBefore + 3);
    expect(c.child.exitCode).toBeNull();
    const failed = c.lines.filter((l) => l.msg === 'request failed');
    expect(failed).toHaveLength(modes.length);
    for (const l of failed) expect(l).toMatchObject({ level: 40, pool: expect.stringContaining('hostile'), pid: expect.any(Number), status: 502 });
  });
});

/**
 * The flood lines of one stream in a JSON log file, as runs (each flood numbers its lines from
 * 0): their lengths, and whether every line came in order with none missing.
 */
async function floodRuns(logFile: string, stream: string): Promise<{ runs: number[]; inOrder: boolean }> {
  const runs: number[] = [];
  let inOrder = true;
  const rl = readline.createInterface({ input: fs.createReadStream(logFile) });
  for await (const text of rl) {
    if (!text.includes('"flood line ') || !text.includes(`"stream":"${stream}"`)) continue;
    const seq = Number(/flood line (\d+) /.exec(text)?.[1]);
    if (seq === 0) runs.push(0);
    if (seq !== runs[runs.length - 1]) inOrder = false;
    runs[runs.length - 1] = (runs[runs.length - 1] ?? 0) + 1;
  }
  return { runs, inOrder };
}

describe('stderr floods', () => {
  test('96 MiB on FCGI_STDERR and 96 MiB on fd 2: every line logged, manager growth ≤ 16 MiB', async () => {
    const d = dir();
    const logFile = path.join(d, 'fcgipm.log');
    // The log goes to a file (as in production); the test reads it back once the floods are over.
    const c = serve(d, '', `logFile: ${logFile}\n`);
    let base = '';
    await until(() => {
      const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
      const line = text.split('\n').find((l) => l.includes('"msg":"fcgipm ready"'));
      if (line) base = `http://${String((JSON.parse(line) as { http: string }).http)}`;
      return base !== '';
    }, 10_000);
    const manager = c.child.pid!;
    expect((await get(`${base}/hostile?mode=ok`)).status).toBe(200);
    const cold = memory(manager);
    // A 1 MiB flood first: what the manager's first log lines cost it once (compiled code, a
    // young generation sized for them: about 8 MiB here) is not what a flood costs.
    expect((await get(`${base}/hostile?mode=stderr&mib=1`)).status).toBe(200);
    const before = memory(manager);
    const fcgi = await timed(`${base}/hostile?mode=stderr&mib=96`);
    const mid = memory(manager);
    const fd2 = await timed(`${base}/hostile?mode=fd2&mib=96`);
    const after = memory(manager);
    const next = await get(`${base}/hello`);
    const expected = 96 * 1024;
    const fcgiLines = await floodRuns(logFile, 'fcgi-stderr');
    const fd2Lines = await floodRuns(logFile, 'stderr');
    const a = await peer();
    let peerText = 'Apache + mod_fcgid: not installed here';
    if (a) {
      const rss0 = apacheRss(a);
      const p1 = await peerGet(`${a.base}/hostile?mode=stderr&mib=96`, 30_000);
      const rss1 = apacheRss(a);
      const p2 = await peerGet(`${a.base}/hostile?mode=fd2&mib=96`, 30_000);
      const rss2 = apacheRss(a);
      const logged = fs.readFileSync(a.logFile, 'latin1').split('flood line ').length - 1;
      peerText =
        `Apache + mod_fcgid, same fixture: FCGI_STDERR ${p1.text}, httpd RSS (all processes) ${mib(rss0)} → ${mib(rss1)}; ` +
        `fd 2 ${p2.text}, → ${mib(rss2)}; ${n(logged)} of ${n(2 * expected)} lines in its error log`;
    }
    recordFigure({
      section: 'apps',
      case: '96 MiB of stderr in one request: on FCGI_STDERR, then on the process\'s fd 2',
      userSees: 'the request answers 200; every line is in the log, in order; the manager grows ≤ 16 MiB',
      measured:
        `FCGI_STDERR ${fcgi.status} in ${n(fcgi.ms)} ms, ${n(fcgiLines.runs[1] ?? 0)} of ${n(expected)} lines logged; fd 2 ${fd2.status} in ${n(fd2.ms)} ms, ${n(fd2Lines.runs[0] ?? 0)} lines; ` +
        `manager VmRSS ${mib(cold.rss)} cold, ${mib(before.rss)} after a 1 MiB warm-up flood, ${mib(mid.rss)} after FCGI_STDERR, ${mib(after.rss)} after fd 2; VmHWM +${mib(after.hwm - before.rss)} over the warm-up`,
      peer: peerText,
    });
    expect(fcgi.status).toBe(200);
    expect(fcgi.body.toString()).toBe(`stderr lines=${expected}\n`);
    expect(fd2.status).toBe(200);
    expect(next.status).toBe(200);
    expect(fcgiLines).toEqual({ runs: [1024, expected], inOrder: true });
    expect(fd2Lines).toEqual({ runs: [expected], inOrder: true });
    expect(after.hwm - before.rss).toBeLessThanOrEqual(GROWTH_LIMIT);
  });
});


describe('fork bomb under an nproc limit', () => {
  test('held at the limit; the other pool serves; stopping the pool kills every descendant', async () => {
    const c = serve(dir(), `, user: "${BOMB_UID}", rlimits: { nproc: ${NPROC} }`);
    const base = await ready(c);
    const bomb = await get(`${base}/hostile?mode=bomb`);
    // Held: the count stops growing at the limit (nothing else runs as this uid).
    let peak = 0;
    let stableSince = Date.now();
    await until(() => {
      const count = processesOf(BOMB_UID).length;
      if (count > peak) {
        peak = count;
        stableSince = Date.now();
      }
      return peak >= NPROC && Date.now() - stableSince > 500;
    }, 10_000);
    const held = processesOf(BOMB_UID).length;
    const other = await timed(`${base}/hello`);
    const same = await timed(`${base}/hostile?mode=ok`);
    const t0 = performance.now();
    c.child.kill('SIGTERM');
    const exit = await c.exited;
    const gone = await until(() => processesOf(BOMB_UID).length === 0, 10_000);
    const stopMs = performance.now() - t0;
    const left = processesOf(BOMB_UID).length;
    recordFigure({
      section: 'apps',
      case: `fork bomb in a worker, rlimits nproc ${NPROC}, run as an unprivileged uid`,
      userSees: `the bomb stops at ${NPROC} processes; the other pool and the worker itself answer 200; on stop no process of the bomb is left`,
      measured: `bomb ${bomb.status}; held at ${held} processes (peak ${peak}); other pool ${other.status} in ${n(other.ms)} ms; bomb's worker ${same.status}; stop took ${n(stopMs)} ms, ${left} left`,
      peer: 'mod_fcgid: by design, no resource limits of its own (RLimitNPROC is not applied to fcgid apps); its apps run in httpd\'s process group, so the bomb is stopped only with Apache',
    });
    expect(bomb.status).toBe(200);
    expect(held).toBeLessThanOrEqual(NPROC);
    expect(peak).toBeGreaterThanOrEqual(NPROC - 1);
    expect(other.status).toBe(200);
    expect(same.status).toBe(200);
    expect(exit.code).toBe(0);
    expect(gone).toBe(true);
  });
});

describe('an app that never accepts', () => {
  test('the start-up timeout fires with a clear error; the request is answered, not left hanging', async () => {
    const c = serve(dir(), ', args: [never-accept], startupTimeout: 2, maxProcesses: 1');
    const base = await ready(c);
    const first = await timed(`${base}/hostile`);
    const line = await c.waitForLine((l) => l.msg === 'worker did not start accepting connections in time');
    const second = await timed(`${base}/hostile`);
    const other = await get(`${base}/hello`);
    const pids = c.lines.filter((l) => l.msg === 'worker started' && String(l.pool).includes('hostile')).map((l) => Number(l.pid));
    const stillRunning = pids.filter(running);
    recordFigure({
      section: 'apps',
      case: 'an app that never calls accept(), startupTimeout 2 s',
      userSees: 'an error status at the start-up timeout, not a hang; the process is killed; other pools serve',
      measured: `first request ${first.status} after ${n(first.ms)} ms, next ${second.status} after ${n(second.ms)} ms; log (warn): "${String(line.msg)}"; ${pids.length} started, ${stillRunning.length} still running; other pool ${other.status}`,
      peer: 'mod_fcgid: by design, no start-up check: the request is written to the new process\'s socket and waits FcgidIOTimeout (40 s) for an answer',
    });
    expect([502, 503]).toContain(first.status);
    expect(first.ms).toBeLessThan(10_000);
    expect([502, 503]).toContain(second.status);
    expect(line.level).toBe(40);
    expect(stillRunning).toEqual([]);
    expect(other.status).toBe(200);
  });
});

describe('a grandchild that keeps the listening socket', () => {
  test('the worker exits, its forked child is killed, requests go to a new worker', async () => {
    const c = serve(dir(), '');
    const base = await ready(c);
    const forked = await get(`${base}/hostile?mode=fork-exit`);
    const grandchild = Number(/child=(\d+)/.exec(forked.body.toString())?.[1]);
    strays.add(grandchild);
    await c.waitForLine((l) => l.msg === 'worker process exited' && String(l.pool).includes('hostile'));
    const killed = await until(() => !running(grandchild), 3_000);
    const answers: string[] = [];
    for (let i = 0; i < 10; i += 1) {
      const r = await get(`${base}/hostile?mode=ok`);
      answers.push(`${r.status} ${r.body.toString().trim()}`);
    }
    const fromGrandchild = answers.filter((a) => a.includes('grandchild')).length;
    recordFigure({
      section: 'apps',
      case: 'the worker forks a child that keeps fd 0 (the listening socket), then exits',
      userSees: 'every later request 200 from a new worker; the orphaned child is killed',
      measured: `${answers.filter((a) => a.startsWith('200')).length} of 10 × 200, ${fromGrandchild} from the orphan; orphan ${killed ? 'killed' : 'still running'} after the worker's exit`,
      peer: 'mod_fcgid: by design, apps run in httpd\'s process group: the orphan keeps running (on a socket file mod_fcgid removed) until Apache stops',
    });
    expect(forked.status).toBe(200);
    expect(answers.every((a) => a.startsWith('200 ok pid='))).toBe(true);
    expect(killed).toBe(true);
  });
});
