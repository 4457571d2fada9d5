import type { ScalingOptions } from '../../../src/pm/policy/options';
import { retireAfterRequest, spawnForDemand, spawnForRecycle, type RetireReason } from '../../../src/pm/policy/scaling';
import type { PoolView, WorkerView } from '../../../src/pm/policy/snapshot';
import { opts, pool, w } from './views';

describe('spawnForDemand', () => {
  test.each<[string, PoolView, Partial<ScalingOptions>, number, number]>([
    ['cold burst: 64 queued, max 8 → 8', pool([], 64), { maxProcesses: 8 }, Infinity, 8],
    ['nothing queued → 0', pool([w('busy')], 0), {}, Infinity, 0],
    ['one per waiting request', pool([w('busy')], 3), {}, Infinity, 3],
    ['starting workers are not double-counted', pool([w('starting'), w('starting')], 3), {}, Infinity, 1],
    ['enough starting → 0', pool([w('starting'), w('starting'), w('starting')], 2), {}, Infinity, 0],
    ['idle workers about to take a request count too', pool([w('idle'), w('busy')], 2), {}, Infinity, 1],
    ['capped by maxProcesses minus live', pool([w('busy'), w('busy'), w('busy')], 10), { maxProcesses: 5 }, Infinity, 2],
    ['draining workers count toward max', pool([w('draining'), w('draining'), w('busy')], 10), { maxProcesses: 4 }, Infinity, 1],
    ['at max → 0', pool([w('busy'), w('busy')], 10), { maxProcesses: 2 }, Infinity, 0],
    ['budget caps', pool([], 64), { maxProcesses: 8 }, 3, 3],
    ['budget 0 → 0', pool([], 64), {}, 0, 0],
    ['negative budget → 0', pool([], 64), {}, -2, 0],
    ['NaN budget → 0', pool([], 64), {}, Number.NaN, 0],
    ['fractional budget rounds down', pool([], 64), {}, 2.7, 2],
    [
      'old-generation workers count toward max, not as capacity',
      pool([w('starting', { generation: 1 }), w('idle', { generation: 1 })], 4, 2),
      { maxProcesses: 8 },
      Infinity,
      4,
    ],
    [
      'old-generation workers use up max',
      pool([w('draining', { generation: 1 }), w('busy', { generation: 1 })], 4, 2),
      { maxProcesses: 3 },
      Infinity,
      1,
    ],
    ['static pools spawn for demand too (after a crash)', pool([w('busy')], 2), { mode: 'static', maxProcesses: 4 }, Infinity, 2],
    ['dynamic pools spawn for demand at once', pool([], 5), { mode: 'dynamic', maxProcesses: 4 }, Infinity, 4],
  ])('%s', (_name, view, options, budget, expected) => {
    expect(spawnForDemand(view, opts(options), budget)).toBe(expected);
  });
});

describe('spawnForRecycle', () => {
  test.each<[string, PoolView, Partial<ScalingOptions>, number, number, number]>([
    ['at max 4 with min 4: the recycled one is replaced before it leaves', pool([w('draining'), w('busy'), w('busy'), w('idle')]), { minProcesses: 4, maxProcesses: 4 }, Infinity, 1, 1],
    ['static: back to max at once', pool([w('draining'), w('busy')]), { mode: 'static', maxProcesses: 2 }, Infinity, 1, 1],
    ['ondemand, min 0, nothing queued: capacity follows demand, no replacement', pool([w('draining'), w('idle')]), { minProcesses: 0, maxProcesses: 4 }, Infinity, 1, 0],
    ['ondemand, min 0, requests queued at max: replaced at once', pool([w('draining'), w('busy')], 3), { minProcesses: 0, maxProcesses: 2 }, Infinity, 1, 1],
    ['queued requests beyond the recycled one: as many as max allows without the leaving ones', pool([w('draining'), w('busy')], 5), { maxProcesses: 3 }, Infinity, 1, 2],
    ['a worker draining for another reason (a timeout) still counts against max', pool([w('draining'), w('draining'), w('busy')], 3), { maxProcesses: 3 }, Infinity, 1, 1],
    ['no leaving workers: plain max', pool([w('draining'), w('busy')], 3), { maxProcesses: 2 }, Infinity, 0, 0],
    ['starting workers count toward the floor', pool([w('draining'), w('starting'), w('busy')]), { minProcesses: 2, maxProcesses: 4 }, Infinity, 1, 0],
    ['the budget (a global cap) counts the leaving ones: 0 → 0', pool([w('draining'), w('busy')]), { minProcesses: 2, maxProcesses: 2 }, 0, 1, 0],
    ['NaN budget → 0', pool([w('draining')]), { minProcesses: 1 }, Number.NaN, 1, 0],
    ['old generation never fills min', pool([w('draining'), w('idle', { generation: 1 })], 0, 2), { minProcesses: 2, maxProcesses: 4 }, Infinity, 1, 2],
  ])('%s', (_name, view, options, budget, leaving, expected) => {
    expect(spawnForRecycle(view, opts(options), budget, leaving)).toBe(expected);
  });
});

describe('retireAfterRequest', () => {
  const hour = 3_600_000;
  test.each<[string, WorkerView, Partial<ScalingOptions>, number, number | undefined, RetireReason | undefined]>([
    ['nothing configured', w('busy', { requests: 10_000, startedAt: 0 }), {}, 10 * hour, undefined, undefined],
    ['below max requests', w('busy', { requests: 4 }), { maxRequestsPerProcess: 5 }, 0, undefined, undefined],
    ['at max requests', w('busy', { requests: 5 }), { maxRequestsPerProcess: 5 }, 0, undefined, 'max-requests'],
    ['past max requests', w('busy', { requests: 9 }), { maxRequestsPerProcess: 5 }, 0, undefined, 'max-requests'],
    ['max requests 1 recycles after every request', w('busy', { requests: 1 }), { maxRequestsPerProcess: 1 }, 0, undefined, 'max-requests'],
    ['younger than lifetime', w('busy', { startedAt: 1000 }), { lifetimeMs: hour }, hour + 999, undefined, undefined],
    ['reached lifetime', w('busy', { startedAt: 1000 }), { lifetimeMs: hour }, hour + 1000, undefined, 'lifetime'],
    ['max requests wins over lifetime', w('busy', { requests: 3 }), { lifetimeMs: 10, maxRequestsPerProcess: 3 }, 50, undefined, 'max-requests'],
    ['older generation', w('busy', { generation: 1 }), {}, 0, 2, 'generation'],
    ['current generation', w('busy', { generation: 2 }), {}, 0, 2, undefined],
    ['lifetime wins over generation', w('busy', { generation: 1 }), { lifetimeMs: 10 }, 10, 2, 'lifetime'],
  ])('%s', (_name, worker, options, now, generation, expected) => {
    expect(retireAfterRequest(worker, opts(options), now, generation)).toBe(expected);
  });
});
