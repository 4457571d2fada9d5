/**
 * The /status page as a person sees it: loaded in real headless Chromium from a real server
 * whose worker is busy on a known URI, with the charts drawn by uPlot from the listener's
 * own copy (no network). Skipped, saying why, only when no chromium is installed; CI installs it.
 */
import http from 'node:http';
import { CHROMIUM, dumpDom } from '../helpers/chromium';
import { httpRequest } from '../helpers/http-client';
import { parseMetricsText } from '../helpers/metrics-text';
import { closeAll, serve, type Served } from '../helpers/serve';

jest.setTimeout(60_000);

const held: http.ClientRequest[] = [];
// A held worker sleeps through SIGTERM (libfcgi's handler lets the request finish first): killGraceMs
// keeps the SIGKILL that ends it short.
afterEach(async () => {
  for (const req of held.splice(0)) req.destroy();
  await closeAll();
});

/** In Chromium; without it the test is listed as skipped with the reason in its name. */
const inChromium = CHROMIUM ? test : test.skip;
const needs = CHROMIUM ? '' : ' [skipped: chromium is not installed; apt-get install chromium]';

/** A GET with the request target sent as written (a URL string would be percent-encoded). */
function get(s: Served, target: string, onResponse: (res: http.IncomingMessage) => void): http.ClientRequest {
  const { hostname, port } = new URL(s.base);
  return http.get({ hostname, port, path: target, agent: false }, onResponse);
}

/**
 * Holds a worker: the slow fixture sends its header block and a first line at once, then
 * sleeps. Resolves when the response began, so the worker is on this request now.
 */
function hold(s: Served, pathAndQuery: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = get(s, pathAndQuery, (res) => {
      res.resume();
      resolve();
    });
    req.on('error', (err) => {
      if (!held.includes(req)) return;
      reject(err);
    });
    held.push(req);
  });
}

/** Sends a request that will wait in the queue; resolves once the pool counts it as queued. */
async function queue(s: Served, pathAndQuery: string): Promise<void> {
  const req = get(s, pathAndQuery, (res) => res.resume());
  req.on('error', () => undefined);
  held.push(req);
  const pool = s.server.pool;
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if (pool.snapshot().queued > 0) resolve();
      else setTimeout(check, 10);
    };
    check();
  });
}

function busyPid(s: Served): number {
  const busy = s.server.pool.snapshot().processes.filter((p) => p.state === 'busy');
  expect(busy).toHaveLength(1);
  return busy[0]!.pid!;
}

/** The <tr> of one worker in the dumped DOM. */
function workerRow(dom: string, pid: number): string {
  const m = new RegExp(`<tr class="worker" data-pid="${pid}"[^>]*>([\\s\\S]*?)</tr>`).exec(dom);
  if (!m) throw new Error(`no row for worker ${pid} in the page`);
  return m[0];
}

inChromium(`the page shows the pool, the busy worker's pid and URI (escaped), and the charts drawn by uPlot${needs}`, async () => {
  const s = await serve('slow', { minProcesses: 1, maxProcesses: 2, killGraceMs: 300 }, { admin: true });
  await s.waitForIdle(1);
  for (let i = 0; i < 5; i += 1) expect((await httpRequest(`${s.base}/warm?sleep=10`)).status).toBe(200);
  // The URI carries markup: it must show as text, never become an element of the page.
  await hold(s, '/report.php?trickle=2&interval=30000&q=<i>owned</i>');
  const pid = busyPid(s);

  const dom = await dumpDom(`${s.admin}/status`, 3_000);

  expect(dom).toContain(`data-pool="${s.server.pool.name}"`);
  expect(dom).toContain(`pool ${s.server.pool.name}`);
  const row = workerRow(dom, pid);
  expect(row).toContain('data-state="busy"');
  expect(row).toContain('GET /report.php?trickle=2&amp;interval=30000&amp;q=&lt;i&gt;owned&lt;/i&gt;');
  expect(dom).not.toContain('<i>owned</i>');
  // uPlot ran (its script came from the admin listener) and drew every chart with data.
  const body = /<body([^>]*)>/.exec(dom)![1]!;
  expect(body).toContain('data-charts="ready"');
  const points = Number(/data-chart-points="(\d+)"/.exec(body)?.[1]);
  expect(points).toBeGreaterThan(0);
  expect(dom.match(/<div class="uplot/g)).toHaveLength(4);
  expect((dom.match(/<canvas/g) ?? []).length).toBeGreaterThanOrEqual(4);
  expect(dom).toContain('Requests served per second');
  // The page refreshed its tables from /status (every 2 s) and the worker is still shown on it.
  expect(Number(/data-refreshed="(\d+)"/.exec(body)?.[1])).toBeGreaterThanOrEqual(1);
  expect(workerRow(dom, pid)).toContain('&lt;i&gt;owned&lt;/i&gt;');
});

test('/status answers at once while every worker is busy and requests wait', async () => {
  const s = await serve('slow', { minProcesses: 1, maxProcesses: 1, killGraceMs: 300 }, { admin: true });
  await s.waitForIdle(1);
  await hold(s, '/busy?trickle=2&interval=30000');
  await queue(s, '/waiting?sleep=1');
  const pid = busyPid(s);

  const started = Date.now();
  const page = await httpRequest(`${s.admin}/status`);
  expect(Date.now() - started).toBeLessThan(2_000);
  expect(page.status).toBe(200);
  expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
  const html = page.body.toString();
  expect(workerRow(html, pid)).toContain('GET /busy?trickle=2&amp;interval=30000');
  expect(html).toMatch(/<th scope="row">waiting now<\/th><td>1<\/td>/);

  const metrics = parseMetricsText((await httpRequest(`${s.admin}/metrics`)).body.toString());
  expect(metrics.value('fcgipm_pool_listen_queue', { pool: s.server.pool.name })).toBe(1);
  expect(metrics.value('fcgipm_pool_active_processes', { pool: s.server.pool.name })).toBe(1);
  const history = JSON.parse((await httpRequest(`${s.admin}/status/history.json`)).body.toString()) as { t: number[] };
  expect(history.t.length).toBeGreaterThan(0);
});

inChromium(`the same page in Chromium while every worker is busy${needs}`, async () => {
  const s = await serve('slow', { minProcesses: 1, maxProcesses: 1, killGraceMs: 300 }, { admin: true });
  await s.waitForIdle(1);
  await hold(s, '/only-worker?trickle=2&interval=30000');
  await queue(s, '/queued?sleep=1');
  const pid = busyPid(s);
  const dom = await dumpDom(`${s.admin}/status`, 3_000);
  expect(workerRow(dom, pid)).toContain('GET /only-worker?trickle=2&amp;interval=30000');
  expect(dom).toMatch(/<th scope="row">waiting now<\/th><td>1<\/td>/);
  expect(dom).toContain('data-charts="ready"');
});

test('uPlot is served by the admin listener itself; unknown paths list the endpoints', async () => {
  const s = await serve('hello', {}, { admin: true });
  const js = await httpRequest(`${s.admin}/static/uplot.min.js`);
  expect(js.status).toBe(200);
  expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
  expect(js.body.toString()).toContain('uPlot');
  const css = await httpRequest(`${s.admin}/static/uplot.min.css`);
  expect(css.status).toBe(200);
  expect(css.body.toString()).toContain('.uplot');
  const missing = await httpRequest(`${s.admin}/nope`);
  expect(missing.status).toBe(404);
  expect(missing.body.toString()).toBe('not found: try /status, /status.json, /status/history.json, /metrics or /healthz\n');
});
