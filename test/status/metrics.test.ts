/**
 * /metrics on the admin listener of a real server: the pool's counters and histograms as a
 * scraper reads them, in both text formats.
 */
import { EventEmitter } from 'node:events';
import { wantsOpenMetrics } from '../../src/status/metrics';
import { httpRequest } from '../helpers/http-client';
import { parseMetricsText, type MetricsText } from '../helpers/metrics-text';
import { closeAll, serve, type Served } from '../helpers/serve';

jest.setTimeout(30_000);
afterEach(closeAll);

/** What Prometheus 2.x/3.x sends when it scrapes. */
const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

async function scrape(s: Served, accept?: string): Promise<{ text: string; contentType: string | undefined; m: MetricsText }> {
  const r = await httpRequest(`${s.admin}/metrics`, accept ? { headers: { accept } } : {});
  expect(r.status).toBe(200);
  const text = r.body.toString();
  return { text, contentType: r.headers['content-type'], m: parseMetricsText(text) };
}

/** Resolves after the pool's nth worker exit from now on. */
function exits(s: Served, n: number): Promise<void> {
  const pool: EventEmitter = s.server.pool;
  return new Promise((resolve) => {
    let seen = 0;
    const on = (): void => {
      seen += 1;
      if (seen < n) return;
      pool.off('worker-exit', on);
      resolve();
    };
    pool.on('worker-exit', on);
  });
}

test('N requests: accepted, completed and both histograms count N; buckets are cumulative and end at +Inf = count', async () => {
  const s = await serve('hello', { maxProcesses: 2 }, { admin: true });
  const pool = s.server.pool.name;
  const N = 7;
  for (let i = 0; i < N; i += 1) expect((await httpRequest(`${s.base}/r${i}`)).status).toBe(200);

  const { m, contentType, text } = await scrape(s);
  expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  expect(text).not.toContain('# EOF');
  expect(m.value('fcgipm_pool_accepted_requests_total', { pool })).toBe(N);
  expect(m.value('fcgipm_pool_completed_requests_total', { pool })).toBe(N);
  expect(m.value('fcgipm_pool_request_duration_seconds_count', { pool })).toBe(N);
  expect(m.value('fcgipm_pool_queue_wait_seconds_count', { pool })).toBe(N);
  expect(m.types.get('fcgipm_pool_request_duration_seconds')).toBe('histogram');
  const buckets = m.find('fcgipm_pool_request_duration_seconds_bucket', { pool });
  expect(buckets.map((b) => b.labels.le)).toEqual(['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30', '60', '+Inf']);
  for (let i = 1; i < buckets.length; i += 1) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
  expect(buckets.at(-1)!.value).toBe(N);
  // hello answers at once: every request took well under a second on its worker.
  expect(m.value('fcgipm_pool_request_duration_seconds_bucket', { pool, le: '1' })).toBe(N);
  expect(m.value('fcgipm_pool_request_duration_seconds_sum', { pool })).toBeLessThan(N);

  // php-fpm's figures: one worker served them all one after another; nothing is running now.
  expect(m.value('fcgipm_pool_spawns_total', { pool })).toBeGreaterThanOrEqual(1);
  expect(m.value('fcgipm_pool_active_processes', { pool })).toBe(0);
  expect(m.value('fcgipm_pool_idle_processes', { pool })).toBe(m.value('fcgipm_pool_processes', { pool }));
  expect(m.value('fcgipm_pool_listen_queue', { pool })).toBe(0);
  expect(m.value('fcgipm_pool_max_processes', { pool })).toBe(2);
  expect(m.value('fcgipm_pool_error_responses_total', { pool, status: '502' })).toBe(0);
  // Node's process metrics from the same private registry.
  expect(m.value('process_resident_memory_bytes')).toBeGreaterThan(0);
  expect(m.find('nodejs_eventloop_lag_seconds').length).toBe(1);
});

test('OpenMetrics when the scraper asks for it: its content type, counters as _total samples of a TYPE without it, # EOF last', async () => {
  const s = await serve('hello', {}, { admin: true });
  const pool = s.server.pool.name;
  expect((await httpRequest(`${s.base}/`)).status).toBe(200);

  const { text, contentType, m } = await scrape(s, PROMETHEUS_ACCEPT);
  expect(contentType).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
  expect(text.endsWith('\n# EOF\n')).toBe(true);
  expect(text.indexOf('# EOF')).toBe(text.length - '# EOF\n'.length);
  expect(m.types.get('fcgipm_pool_accepted_requests')).toBe('counter');
  expect(m.value('fcgipm_pool_accepted_requests_total', { pool })).toBe(1);

  // The other format afterwards is still the Prometheus one, with its counter names intact.
  const plain = await scrape(s, 'text/plain');
  expect(plain.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  expect(plain.m.types.get('fcgipm_pool_accepted_requests_total')).toBe('counter');
  expect(plain.m.value('fcgipm_pool_accepted_requests_total', { pool })).toBe(1);
});

test('exits by reason: workers recycled after maxRequestsPerProcess count as max-requests', async () => {
  const s = await serve('hello', { maxProcesses: 1, maxRequestsPerProcess: 2 }, { admin: true });
  const pool = s.server.pool.name;
  const twoExits = exits(s, 2);
  for (let i = 0; i < 4; i += 1) expect((await httpRequest(`${s.base}/`)).status).toBe(200);
  await twoExits;

  const { m } = await scrape(s);
  expect(m.value('fcgipm_pool_exits_total', { pool, reason: 'max-requests' })).toBe(2);
  expect(m.find('fcgipm_pool_exits_total', { pool }).map((x) => x.labels.reason)).toEqual(['max-requests']);
  expect(m.value('fcgipm_pool_spawns_total', { pool })).toBeGreaterThanOrEqual(2);
  expect(m.value('fcgipm_pool_max_requests_per_process', { pool })).toBe(2);
});

test('queued requests: the queue-wait histogram puts them above their wait, max listen queue and max processes reached count them', async () => {
  const s = await serve('slow', { minProcesses: 1, maxProcesses: 1 }, { admin: true });
  await s.waitForIdle(1);
  const pool = s.server.pool.name;
  // One worker, four requests of 400 ms at once: the first runs at once, three wait 400 ms or more.
  const answers = await Promise.all([1, 2, 3, 4].map((i) => httpRequest(`${s.base}/q${i}?sleep=400`)));
  expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);

  const { m } = await scrape(s);
  expect(m.value('fcgipm_pool_queue_wait_seconds_count', { pool })).toBe(4);
  expect(m.value('fcgipm_pool_queue_wait_seconds_bucket', { pool, le: '0.25' })).toBe(1);
  expect(m.value('fcgipm_pool_queue_wait_seconds_bucket', { pool, le: '+Inf' })).toBe(4);
  expect(m.value('fcgipm_pool_queue_wait_seconds_sum', { pool })).toBeGreaterThan(3 * 0.3);
  expect(m.value('fcgipm_pool_max_listen_queue', { pool })).toBe(3);
  expect(m.value('fcgipm_pool_max_processes_reached_total', { pool })).toBeGreaterThanOrEqual(1);
  // Each of them held the worker about 400 ms.
  expect(m.value('fcgipm_pool_request_duration_seconds_bucket', { pool, le: '0.25' })).toBe(0);
  expect(m.value('fcgipm_pool_request_duration_seconds_bucket', { pool, le: '1' })).toBe(4);
});

test('a full queue is a 503 in fcgipm_pool_error_responses_total', async () => {
  const s = await serve('slow', { minProcesses: 1, maxProcesses: 1, maxQueue: 0 }, { admin: true });
  await s.waitForIdle(1);
  const pool = s.server.pool.name;
  const [first, second] = await Promise.all([httpRequest(`${s.base}/?sleep=300`), httpRequest(`${s.base}/?sleep=0`)]);
  expect([first.status, second.status].sort()).toEqual([200, 503]);
  const { m } = await scrape(s);
  expect(m.value('fcgipm_pool_error_responses_total', { pool, status: '503' })).toBe(1);
  expect(m.value('fcgipm_pool_accepted_requests_total', { pool })).toBe(2);
  expect(m.value('fcgipm_pool_request_duration_seconds_count', { pool })).toBe(1);
});

test('wantsOpenMetrics: the media range with the higher q wins', () => {
  expect(wantsOpenMetrics(PROMETHEUS_ACCEPT)).toBe(true);
  expect(wantsOpenMetrics('application/openmetrics-text')).toBe(true);
  expect(wantsOpenMetrics(undefined)).toBe(false);
  expect(wantsOpenMetrics('*/*')).toBe(false);
  expect(wantsOpenMetrics('text/plain;version=0.0.4')).toBe(false);
  expect(wantsOpenMetrics('application/openmetrics-text;q=0.2, text/plain;q=0.9')).toBe(false);
  expect(wantsOpenMetrics('application/openmetrics-text;q=0')).toBe(false);
});

test('slowRequestTimeout: a request at or over it is counted as slow and logged with its URI and worker; a fast one is not', async () => {
  const s = await serve('slow', { slowRequestTimeoutMs: 300 }, { admin: true });
  const pool = s.server.pool.name;
  expect((await httpRequest(`${s.base}/fast?sleep=0`)).status).toBe(200);
  expect((await httpRequest(`${s.base}/lagging?sleep=400`)).status).toBe(200);

  const { m } = await scrape(s);
  expect(m.value('fcgipm_pool_slow_requests_total', { pool })).toBe(1);
  expect(m.value('fcgipm_pool_slow_request_timeout_seconds', { pool })).toBe(0.3);
  const line = await s.waitForLine((l) => l.msg === 'slow request');
  expect(line).toMatchObject({ level: 40, uri: '/lagging?sleep=400', method: 'GET', slowRequestTimeoutMs: 300 });
  expect(line.durationMs as number).toBeGreaterThanOrEqual(400);
  expect(typeof line.pid).toBe('number');
  expect(s.lines.filter((l) => l.msg === 'slow request')).toHaveLength(1);
  // Off by default: the setting's gauge says 0 and nothing is counted.
  const plain = await serve('slow', {}, { admin: true });
  expect((await httpRequest(`${plain.base}/?sleep=400`)).status).toBe(200);
  const off = (await scrape(plain)).m;
  expect(off.value('fcgipm_pool_slow_requests_total', { pool: plain.server.pool.name })).toBe(0);
  expect(off.value('fcgipm_pool_slow_request_timeout_seconds', { pool: plain.server.pool.name })).toBe(0);
});
