/**
 * /healthz answers 503 as soon as fcgipm is told to stop, for the whole drain, while a request
 * in flight still finishes: a load balancer or readiness probe takes the instance out before
 * its listeners are gone (the preStop/drain sequence of packaging/kubernetes/fcgipm.yaml).
 */
import { cleanupClis, cli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';

afterAll(cleanupClis);

test('SIGTERM: /healthz turns 503 during the drain; the status still answers; the request in flight gets its 200', async () => {
  const c = cli(['run', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--', fixture('slow')]);
  const ready = await c.waitForLine((l) => l.msg === 'fcgipm ready');
  const admin = `http://${String(ready.admin)}`;
  expect((await httpRequest(`${admin}/healthz`)).status).toBe(200);

  const inFlight = httpRequest(`http://${String(ready.http)}/?sleep=1500`);
  await c.waitForLine((l) => l.msg === 'worker started');
  // Wait until the worker holds the request, so the drain has something to wait for.
  for (;;) {
    const status = JSON.parse((await httpRequest(`${admin}/status.json`)).body.toString()) as { pools: Array<{ processes: Array<{ state: string }> }> };
    if (status.pools.some((p) => p.processes.some((w) => w.state === 'busy'))) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  c.child.kill('SIGTERM');
  await c.waitForLine((l) => l.msg === 'stopping gracefully');
  const health = await httpRequest(`${admin}/healthz`);
  expect(health.status).toBe(503);
  expect(health.body.toString()).toBe('stopping\n');
  expect((await httpRequest(`${admin}/status.json`)).status).toBe(200);

  const answer = await inFlight;
  expect(answer.status).toBe(200);
  expect(answer.body.toString()).toBe('slept 1500\n');
  expect((await c.exited).code).toBe(0);
});
