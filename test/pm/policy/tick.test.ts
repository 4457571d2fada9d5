import type { ScalingOptions } from '../../../src/pm/policy/options';
import { INITIAL_TICK_STATE, tick, type PolicyAction, type TickState } from '../../../src/pm/policy/scaling';
import type { PoolView, WorkerView } from '../../../src/pm/policy/snapshot';
import { opts, pool, spawned, w } from './views';

const S = 1000;

function run(view: PoolView, options: Partial<ScalingOptions>, now = 0, state: TickState = INITIAL_TICK_STATE, budget = Infinity) {
  return tick(view, opts(options), now, state, budget);
}

const idleAt = (id: number, idleSince: number, over: Partial<WorkerView> = {}) => w('idle', { id, idleSince, ...over });

describe('tick: floor fill', () => {
  test.each<[string, PoolView, Partial<ScalingOptions>, PolicyAction[]]>([
    ['ondemand cold start fills to min', pool([]), { minProcesses: 3 }, [{ kind: 'spawn', count: 3, reason: 'min' }]],
    ['ondemand with min 0 does nothing', pool([]), { minProcesses: 0 }, []],
    ['starting workers count toward min', pool([w('starting'), w('starting')]), { minProcesses: 3 }, [{ kind: 'spawn', count: 1, reason: 'min' }]],
    ['busy workers count toward min', pool([w('busy'), w('busy'), w('busy')]), { minProcesses: 3 }, []],
    ['draining workers do not count toward min', pool([w('draining')]), { minProcesses: 1 }, [{ kind: 'spawn', count: 1, reason: 'min' }]],
    ['static fills to max, ignoring min', pool([w('busy')]), { mode: 'static', minProcesses: 0, maxProcesses: 4 }, [{ kind: 'spawn', count: 3, reason: 'static' }]],
    ['static at max does nothing', pool([w('busy'), w('idle')]), { mode: 'static', maxProcesses: 2 }, []],
    ['dynamic fills to min', pool([]), { mode: 'dynamic', minProcesses: 2, minSpare: 1 }, [{ kind: 'spawn', count: 2, reason: 'min' }]],
  ])('%s', (_name, view, options, actions) => {
    expect(run(view, options).actions).toEqual(actions);
  });

  test('spawns are capped by the budget', () => {
    expect(run(pool([]), { minProcesses: 5 }, 0, INITIAL_TICK_STATE, 2).actions).toEqual([{ kind: 'spawn', count: 2, reason: 'min' }]);
  });

  test('spawns are capped by maxProcesses, draining workers included', () => {
    const view = pool([w('draining'), w('draining'), w('draining')]);
    expect(run(view, { minProcesses: 3, maxProcesses: 4 }).actions).toEqual([{ kind: 'spawn', count: 1, reason: 'min' }]);
  });

  test('waiting requests nothing will take get a demand spawn (safety net)', () => {
    expect(run(pool([w('busy'), w('starting')], 3), {}).actions).toEqual([{ kind: 'spawn', count: 2, reason: 'demand' }]);
  });

  test('min spawns count as capacity for waiting requests', () => {
    expect(run(pool([], 5), { minProcesses: 2 }).actions).toEqual([
      { kind: 'spawn', count: 2, reason: 'min' },
      { kind: 'spawn', count: 3, reason: 'demand' },
    ]);
  });
});

describe('tick: idle timeout', () => {
  const o = { idleTimeoutMs: 10 * S };

  test('longest idle first, never below min', () => {
    const view = pool([idleAt(1, 8 * S), idleAt(2, 0), idleAt(3, 5 * S)]);
    expect(run(view, { ...o, minProcesses: 1 }, 20 * S).actions).toEqual([
      { kind: 'retire', workerId: 2, reason: 'idle-timeout' },
      { kind: 'retire', workerId: 3, reason: 'idle-timeout' },
    ]);
  });

  test('dynamic: the spares kept are net of waiting requests, starting workers included', () => {
    const options = { ...o, mode: 'dynamic' as const, minSpare: 1, maxSpare: 3 };
    expect(run(pool([idleAt(1, 0), idleAt(2, 1)], 1), options, 60 * S).actions).toEqual([]);
    expect(run(pool([idleAt(1, 0), idleAt(2, 1), w('starting')], 1), options, 60 * S).actions).toEqual([
      { kind: 'retire', workerId: 1, reason: 'idle-timeout' },
    ]);
  });

  test('with min 0 every expired idle worker goes in one tick', () => {
    const view = pool([idleAt(1, 0), idleAt(2, 1 * S), idleAt(3, 2 * S)]);
    expect(run(view, { ...o, minProcesses: 0 }, 20 * S).actions.map((a) => a.kind === 'retire' && a.workerId)).toEqual([1, 2, 3]);
  });

  test.each<[string, WorkerView[], Partial<ScalingOptions>, number, number[]]>([
    ['not yet expired', [idleAt(1, 0)], { ...o }, 10 * S - 1, []],
    ['expired exactly at the timeout', [idleAt(1, 0)], { ...o }, 10 * S, [1]],
    ['busy workers hold the floor', [w('busy'), idleAt(1, 0), idleAt(2, 1)], { ...o, minProcesses: 2 }, 60 * S, [1]],
    ['starting workers hold the floor', [w('starting'), idleAt(1, 0)], { ...o, minProcesses: 1 }, 60 * S, [1]],
    ['draining workers do not hold the floor', [w('draining'), idleAt(1, 0)], { ...o, minProcesses: 1 }, 60 * S, []],
    ['only the expired ones', [idleAt(1, 0), idleAt(2, 55 * S)], { ...o }, 60 * S, [1]],
    ['ties by id', [idleAt(7, 0), idleAt(3, 0), idleAt(5, 0)], { ...o, minProcesses: 1 }, 60 * S, [3, 5]],
    ['idleSince missing counts from startedAt', [w('idle', { id: 1, startedAt: 0, idleSince: undefined })], { ...o }, 10 * S, [1]],
    ['off when idleTimeoutMs is 0', [idleAt(1, 0)], { idleTimeoutMs: 0 }, 1e9, []],
    ['never in static mode', [idleAt(1, 0), idleAt(2, 0)], { ...o, mode: 'static', maxProcesses: 2 }, 1e9, []],
    ['dynamic mode reaps too', [idleAt(1, 0), idleAt(2, 1), w('busy')], { ...o, mode: 'dynamic', minSpare: 1 }, 60 * S, [1]],
    ['dynamic mode keeps minSpare spares', [idleAt(1, 0), idleAt(2, 1), idleAt(3, 2)], { ...o, mode: 'dynamic', minSpare: 2, maxSpare: 3 }, 60 * S, [1]],
    ['busy workers are never idle-reaped', [w('busy', { id: 1, startedAt: 0 })], { ...o }, 1e9, []],
  ])('%s', (_name, workers, options, now, retired) => {
    const { actions } = run(pool(workers), options, now);
    expect(actions.filter((a) => a.kind === 'retire')).toEqual(retired.map((workerId) => ({ kind: 'retire', workerId, reason: 'idle-timeout' })));
  });
});

describe('tick: lifetime', () => {
  const hour = 3600 * S;

  test('an idle worker past its lifetime is retired even at min, and replaced in the same result', () => {
    const view = pool([w('idle', { id: 1, startedAt: 0, idleSince: hour - 5 })]);
    expect(run(view, { lifetimeMs: hour, minProcesses: 1 }, hour).actions).toEqual([
      { kind: 'retire', workerId: 1, reason: 'lifetime' },
      { kind: 'spawn', count: 1, reason: 'min' },
    ]);
  });

  test('a busy worker past its lifetime is left to finish (retireAfterRequest takes it)', () => {
    expect(run(pool([w('busy', { startedAt: 0 })]), { lifetimeMs: hour, minProcesses: 1 }, 2 * hour).actions).toEqual([]);
  });

  test('young idle workers stay', () => {
    expect(run(pool([w('idle', { startedAt: 1 })]), { lifetimeMs: hour }, hour).actions).toEqual([]);
  });

  test('oldest first, all of them, static replacements wait for room under max', () => {
    const view = pool([w('idle', { id: 2, startedAt: 20 }), w('idle', { id: 1, startedAt: 10 }), w('busy', { id: 3, startedAt: 0 })]);
    expect(run(view, { mode: 'static', maxProcesses: 3, lifetimeMs: hour }, 2 * hour).actions).toEqual([
      { kind: 'retire', workerId: 1, reason: 'lifetime' },
      { kind: 'retire', workerId: 2, reason: 'lifetime' },
    ]);
    expect(run(view, { mode: 'static', maxProcesses: 5, lifetimeMs: hour }, 2 * hour).actions).toEqual([
      { kind: 'retire', workerId: 1, reason: 'lifetime' },
      { kind: 'retire', workerId: 2, reason: 'lifetime' },
      { kind: 'spawn', count: 2, reason: 'static' },
    ]);
  });

  test('a lifetime retirement is not doubled by an idle-timeout one (no churn)', () => {
    const view = pool([w('idle', { id: 1, startedAt: 0, idleSince: 0 }), w('idle', { id: 2, startedAt: 50 * S, idleSince: 50 * S })]);
    expect(run(view, { lifetimeMs: hour, idleTimeoutMs: 10 * S, minProcesses: 1 }, hour).actions).toEqual([
      { kind: 'retire', workerId: 1, reason: 'lifetime' },
    ]);
  });
});

describe('tick: dynamic spares', () => {
  const dyn = (over: Partial<ScalingOptions> = {}): Partial<ScalingOptions> => ({
    mode: 'dynamic',
    maxProcesses: 100,
    minSpare: 50,
    maxSpare: 50,
    maxSpawnRate: 8,
    ...over,
  });

  test('the spawn rate doubles 1, 2, 4, 8 then stays at the cap', () => {
    let busy: WorkerView[] = [];
    let state = INITIAL_TICK_STATE;
    const counts: number[] = [];
    for (let t = 0; t < 6; t += 1) {
      const r = run(pool(busy), dyn(), t * S, state);
      counts.push(spawned(r.actions));
      expect(r.actions.every((a) => a.kind === 'spawn' && a.reason === 'spare')).toBe(true);
      // Load takes every new worker: each tick sees no spare at all.
      busy = [...busy, ...Array.from({ length: spawned(r.actions) }, () => w('busy'))];
      state = r.state;
    }
    expect(counts).toEqual([1, 2, 4, 8, 8, 8]);
    expect(state.spawnRate).toBe(8);
  });

  test('the default cap is 32 (pm.max_spawn_rate)', () => {
    let state = INITIAL_TICK_STATE;
    const counts: number[] = [];
    for (let t = 0; t < 7; t += 1) {
      const r = run(pool([]), { mode: 'dynamic', maxProcesses: 100, minSpare: 100, maxSpare: 100 }, t, state);
      counts.push(spawned(r.actions));
      state = r.state;
    }
    expect(counts).toEqual([1, 2, 4, 8, 16, 32, 32]);
  });

  test('never more than the spares missing; the rate still doubles after a tick that spawned', () => {
    const view = pool([...Array.from({ length: 48 }, () => w('idle'))]);
    const r = run(view, dyn({ maxSpawnRate: 32 }), 0, { spawnRate: 8 });
    expect(r.actions).toEqual([{ kind: 'spawn', count: 2, reason: 'spare' }]);
    expect(r.state.spawnRate).toBe(16);
  });

  test('resets to 1 when nothing needed spawning', () => {
    const view = pool(Array.from({ length: 50 }, () => w('idle')));
    const r = run(view, dyn(), 0, { spawnRate: 8 });
    expect(r.actions).toEqual([]);
    expect(r.state).toEqual({ spawnRate: 1 });
  });

  test('starting workers count as spares', () => {
    const view = pool([...Array.from({ length: 2 }, () => w('starting')), w('idle')]);
    expect(run(view, dyn({ minSpare: 3, maxSpare: 5 }), 0, { spawnRate: 4 }).actions).toEqual([]);
  });

  test('spares are net of waiting requests (starting workers will serve the queue first)', () => {
    const view = pool([w('starting'), w('starting'), w('starting')], 3);
    const r = run(view, dyn({ minSpare: 2, maxSpare: 4 }), 0, { spawnRate: 4 });
    expect(r.actions).toEqual([{ kind: 'spawn', count: 2, reason: 'spare' }]);
  });

  test('resets to 1 when maxProcesses allows no spawn', () => {
    const view = pool(Array.from({ length: 4 }, () => w('busy')));
    const r = run(view, dyn({ maxProcesses: 4, minSpare: 2, maxSpare: 3 }), 0, { spawnRate: 8 });
    expect(r.actions).toEqual([]);
    expect(r.state.spawnRate).toBe(1);
  });

  test('resets to 1 when the budget allows no spawn', () => {
    const r = run(pool([]), dyn(), 0, { spawnRate: 4 }, 0);
    expect(r.actions).toEqual([]);
    expect(r.state.spawnRate).toBe(1);
  });

  test('a partial spawn under the cap still doubles (php-fpm)', () => {
    const view = pool([w('busy'), w('busy')]);
    const r = run(view, dyn({ maxProcesses: 4, minSpare: 4, maxSpare: 4 }), 0, { spawnRate: 4 });
    expect(r.actions).toEqual([{ kind: 'spawn', count: 2, reason: 'spare' }]);
    expect(r.state.spawnRate).toBe(8);
  });

  test('min spawns count as spares', () => {
    expect(run(pool([]), { mode: 'dynamic', minProcesses: 2, minSpare: 1, maxSpare: 3 }).actions).toEqual([
      { kind: 'spawn', count: 2, reason: 'min' },
    ]);
  });

  test('more idle than maxSpare: ONE is retired per tick, the longest idle, and the rate resets', () => {
    const view = pool([idleAt(1, 30), idleAt(2, 10), idleAt(3, 20), idleAt(4, 40), idleAt(5, 50)]);
    const r = run(view, dyn({ minSpare: 1, maxSpare: 3 }), 100, { spawnRate: 4 });
    expect(r.actions).toEqual([{ kind: 'retire', workerId: 2, reason: 'spare' }]);
    expect(r.state.spawnRate).toBe(1);
  });

  test('spare retirement never goes below min', () => {
    const view = pool([idleAt(1, 0), idleAt(2, 0), idleAt(3, 0), idleAt(4, 0)]);
    expect(run(view, dyn({ minProcesses: 4, minSpare: 1, maxSpare: 2 }), 100).actions).toEqual([]);
  });

  test('spare retirement counts what idle-timeout already took', () => {
    const view = pool([idleAt(1, 0), idleAt(2, 51 * S), idleAt(3, 52 * S), idleAt(4, 53 * S), idleAt(5, 54 * S)]);
    const r = run(view, dyn({ minSpare: 1, maxSpare: 2, idleTimeoutMs: 10 * S }), 60 * S);
    expect(r.actions).toEqual([
      { kind: 'retire', workerId: 1, reason: 'idle-timeout' },
      { kind: 'retire', workerId: 2, reason: 'spare' },
    ]);
  });

  test('spares lost to lifetime recycling are replaced beyond the rate, which does not double for it', () => {
    const hour = 3600 * S;
    const view = pool([w('idle', { id: 1, startedAt: 0 }), w('idle', { id: 2, startedAt: 0 }), w('idle', { id: 3, startedAt: 0 })]);
    const r = run(view, dyn({ minSpare: 3, maxSpare: 4, lifetimeMs: hour }), hour, { spawnRate: 1 });
    expect(r.actions).toEqual([
      { kind: 'retire', workerId: 1, reason: 'lifetime' },
      { kind: 'retire', workerId: 2, reason: 'lifetime' },
      { kind: 'retire', workerId: 3, reason: 'lifetime' },
      { kind: 'spawn', count: 3, reason: 'spare' },
    ]);
    expect(r.state.spawnRate).toBe(1);
  });

  test('ondemand and static keep the rate at 1', () => {
    expect(run(pool([]), { minProcesses: 2 }, 0, { spawnRate: 8 }).state.spawnRate).toBe(1);
    expect(run(pool([]), { mode: 'static', maxProcesses: 2 }, 0, { spawnRate: 8 }).state.spawnRate).toBe(1);
  });

  test('a nonsense rate in the state is clamped', () => {
    expect(spawned(run(pool([]), dyn(), 0, { spawnRate: 0 }).actions)).toBe(1);
    expect(spawned(run(pool([]), dyn(), 0, { spawnRate: Number.NaN }).actions)).toBe(1);
    expect(spawned(run(pool([]), dyn(), 0, { spawnRate: 1000 }).actions)).toBe(8);
  });
});

describe('tick: generations', () => {
  const old = (phase: WorkerView['phase'], over: Partial<WorkerView> = {}) => w(phase, { generation: 1, ...over });

  test('old-generation idle workers are retired for their generation, never by the idle policy', () => {
    const view = pool([old('idle', { id: 1, idleSince: 0 }), old('idle', { id: 2, idleSince: 0 })], 0, 2);
    expect(run(view, { idleTimeoutMs: 10 * S }, 1e6).actions).toEqual([
      { kind: 'retire', workerId: 1, reason: 'generation' },
      { kind: 'retire', workerId: 2, reason: 'generation' },
    ]);
  });

  test('old-generation busy, starting and draining workers are the mechanism\'s business', () => {
    const view = pool([old('busy'), old('starting'), old('draining')], 0, 2);
    expect(run(view, { idleTimeoutMs: 1, lifetimeMs: 1 }, 1e6).actions).toEqual([]);
  });

  test('old-generation workers never fill min', () => {
    const view = pool([old('busy'), old('busy')], 0, 2);
    expect(run(view, { minProcesses: 2 }).actions).toEqual([{ kind: 'spawn', count: 2, reason: 'min' }]);
  });

  test('old-generation workers count toward maxProcesses', () => {
    const view = pool([old('busy'), old('busy'), old('draining')], 0, 2);
    expect(run(view, { minProcesses: 2, maxProcesses: 4 }).actions).toEqual([{ kind: 'spawn', count: 1, reason: 'min' }]);
  });

  test('old-generation workers do not hold the floor against idle reaping', () => {
    const view = pool([old('busy'), w('idle', { id: 9, generation: 2, idleSince: 0 })], 0, 2);
    expect(run(view, { minProcesses: 1, idleTimeoutMs: 10 }, 100).actions).toEqual([]);
  });

  test('static after a reload: old idle ones go, the new generation fills once there is room', () => {
    const view = pool([old('idle', { id: 1 }), old('busy', { id: 2 })], 0, 2);
    expect(run(view, { mode: 'static', maxProcesses: 3 }).actions).toEqual([
      { kind: 'retire', workerId: 1, reason: 'generation' },
      { kind: 'spawn', count: 1, reason: 'static' },
    ]);
  });
});

describe('tick: ordering and determinism', () => {
  test('generation, lifetime, idle-timeout, spare, then min, demand, spare spawns', () => {
    const view = pool(
      [
        w('idle', { id: 1, generation: 1, idleSince: 0 }),
        w('idle', { id: 2, generation: 2, startedAt: 0, idleSince: 900 }),
        w('idle', { id: 3, generation: 2, startedAt: 500, idleSince: 500 }),
        w('idle', { id: 4, generation: 2, startedAt: 600, idleSince: 990 }),
        w('idle', { id: 5, generation: 2, startedAt: 600, idleSince: 995 }),
        w('idle', { id: 6, generation: 2, startedAt: 600, idleSince: 996 }),
      ],
      0,
      2,
    );
    const options = { mode: 'dynamic' as const, minProcesses: 5, maxProcesses: 10, minSpare: 1, maxSpare: 2, lifetimeMs: 1000, idleTimeoutMs: 400 };
    expect(run(view, options, 1000).actions).toEqual([
      { kind: 'retire', workerId: 1, reason: 'generation' },
      { kind: 'retire', workerId: 2, reason: 'lifetime' },
      { kind: 'spawn', count: 1, reason: 'min' },
    ]);
    expect(run(view, { ...options, minProcesses: 0 }, 1000).actions).toEqual([
      { kind: 'retire', workerId: 1, reason: 'generation' },
      { kind: 'retire', workerId: 2, reason: 'lifetime' },
      { kind: 'retire', workerId: 3, reason: 'idle-timeout' },
      { kind: 'retire', workerId: 4, reason: 'spare' },
    ]);
  });

  test('spawns: min, then demand, then spare', () => {
    const r = run(pool([], 3), { mode: 'dynamic', minProcesses: 1, minSpare: 2, maxSpare: 3 });
    expect(r.actions).toEqual([
      { kind: 'spawn', count: 1, reason: 'min' },
      { kind: 'spawn', count: 2, reason: 'demand' },
      { kind: 'spawn', count: 1, reason: 'spare' },
    ]);
    expect(r.state.spawnRate).toBe(2);
  });

  test('the order of workers in the snapshot does not matter', () => {
    const workers = [idleAt(1, 0), idleAt(2, 0), idleAt(3, 5), w('busy', { id: 4 }), w('starting', { id: 5 })];
    const options = { idleTimeoutMs: 1, minProcesses: 3 };
    const expected = run(pool(workers, 1), options, 100);
    expect(run(pool([...workers].reverse(), 1), options, 100)).toEqual(expected);
    expect(run(pool([workers[2]!, workers[0]!, workers[4]!, workers[1]!, workers[3]!], 1), options, 100)).toEqual(expected);
  });

  test('does not mutate its inputs', () => {
    const workers = Object.freeze([Object.freeze(idleAt(1, 0)), Object.freeze(idleAt(2, 0))]);
    const view = Object.freeze(pool(workers));
    const state = Object.freeze({ spawnRate: 2 });
    expect(() => tick(view, opts({ idleTimeoutMs: 1, mode: 'dynamic' }), 100, state, 5)).not.toThrow();
  });
});
