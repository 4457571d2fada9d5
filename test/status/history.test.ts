/**
 * The /status page's history: per-second samples turned from the scoreboard's totals into
 * rates, kept in a ring of fixed size, served column-wise for uPlot.
 */
import type { ManagerSnapshot } from '../../src/pm/manager';
import type { PoolSnapshot } from '../../src/pm/pool';
import { History } from '../../src/status/history';

function pool(name: string, fields: Partial<PoolSnapshot>): PoolSnapshot {
  return { name, completed: 0, waitedRequests: 0, waitTimeTotalMs: 0, activeProcesses: 0, queued: 0, ...fields } as PoolSnapshot;
}

/** A scoreboard the test changes between samples, and a clock it moves. */
function fixture(): { source: { snapshot(): ManagerSnapshot }; pools: PoolSnapshot[]; clock: { now: number } } {
  const pools: PoolSnapshot[] = [];
  const clock = { now: 1_700_000_000_000 };
  return { pools, clock, source: { snapshot: () => ({ pools: [...pools] }) as unknown as ManagerSnapshot } };
}

test('rates over the interval, mean wait of the requests that reached a worker in it, gauges as they are', () => {
  const { source, pools, clock } = fixture();
  const h = new History(source, { now: () => clock.now, capacity: 10 });
  pools.push(pool('a', { completed: 100, waitedRequests: 100, waitTimeTotalMs: 500, activeProcesses: 1 }));
  h.sample();
  clock.now += 2_000;
  pools[0] = pool('a', { completed: 110, waitedRequests: 104, waitTimeTotalMs: 900, activeProcesses: 3, queued: 2 });
  h.sample();
  clock.now += 1_000;
  pools[0] = pool('a', { completed: 110, waitedRequests: 104, waitTimeTotalMs: 900, activeProcesses: 0 });
  h.sample();

  const c = h.columns();
  expect(c.t).toEqual([1_700_000_000, 1_700_000_002, 1_700_000_003]);
  // The first sample has no interval behind it: 0 requests/s, no wait known.
  expect(c.pools.a).toEqual({ rps: [0, 5, 0], waitMs: [null, 100, null], busy: [1, 3, 0], queued: [0, 2, 0] });
  h.close();
});

test('a pool that appears later has nulls before it; the ring keeps the newest `capacity` samples, oldest first', () => {
  const { source, pools, clock } = fixture();
  const h = new History(source, { now: () => clock.now, capacity: 3 });
  pools.push(pool('a', { activeProcesses: 1 }));
  h.sample();
  clock.now += 1_000;
  pools.push(pool('b', { activeProcesses: 2 }));
  h.sample();
  expect(h.columns().pools.b!.busy).toEqual([null, 2]);

  for (let i = 0; i < 3; i += 1) {
    clock.now += 1_000;
    pools[0] = pool('a', { activeProcesses: 10 + i });
    h.sample();
  }
  const c = h.columns();
  expect(c.t).toEqual([1_700_000_002, 1_700_000_003, 1_700_000_004]);
  expect(c.pools.a!.busy).toEqual([10, 11, 12]);
  expect(c.pools.b!.busy).toEqual([2, 2, 2]);
  h.close();
});

test('start() samples at once and then on its timer; close() stops it and is idempotent', async () => {
  const { source, pools } = fixture();
  pools.push(pool('a', {}));
  const h = new History(source, { intervalMs: 20 });
  h.start();
  expect(h.columns().t).toHaveLength(1);
  await new Promise((r) => setTimeout(r, 120));
  h.close();
  const n = h.columns().t.length;
  expect(n).toBeGreaterThanOrEqual(2);
  await new Promise((r) => setTimeout(r, 60));
  expect(h.columns().t).toHaveLength(n);
  h.close();
});
