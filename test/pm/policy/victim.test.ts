import type { ScalingOptions } from '../../../src/pm/policy/options';
import { pickVictim } from '../../../src/pm/policy/scaling';
import type { PoolView } from '../../../src/pm/policy/snapshot';
import { opts, pool, w } from './views';

type Entry = { poolId: string; view: PoolView; options: ScalingOptions };
const entry = (poolId: string, view: PoolView, options: Partial<ScalingOptions> = {}): Entry => ({ poolId, view, options: opts(options) });

describe('pickVictim', () => {
  test('the worker idle longest across the other pools', () => {
    const pools = [
      entry('a', pool([w('idle', { id: 1, idleSince: 50 }), w('busy', { id: 2 })])),
      entry('b', pool([w('idle', { id: 3, idleSince: 10 }), w('idle', { id: 4, idleSince: 30 })])),
      entry('c', pool([w('idle', { id: 5, idleSince: 20 })])),
    ];
    expect(pickVictim(pools, 'c')).toEqual({ poolId: 'b', workerId: 3 });
  });

  test('never from the requesting pool', () => {
    const pools = [entry('a', pool([w('idle', { id: 1, idleSince: 0 })])), entry('b', pool([w('idle', { id: 2, idleSince: 99 })]))];
    expect(pickVictim(pools, 'a')).toEqual({ poolId: 'b', workerId: 2 });
    expect(pickVictim([pools[0]!], 'a')).toBeUndefined();
  });

  test('never below a pool\'s floor', () => {
    const pools = [
      entry('a', pool([w('idle', { id: 1, idleSince: 0 }), w('busy', { id: 2 })]), { minProcesses: 2 }),
      entry('b', pool([w('idle', { id: 3, idleSince: 40 }), w('idle', { id: 4, idleSince: 50 })]), { minProcesses: 1 }),
    ];
    expect(pickVictim(pools, 'x')).toEqual({ poolId: 'b', workerId: 3 });
  });

  test('a static pool is never a victim', () => {
    const pools = [entry('s', pool([w('idle', { id: 1, idleSince: 0 }), w('idle', { id: 2, idleSince: 0 })]), { mode: 'static', maxProcesses: 2 })];
    expect(pickVictim(pools, 'x')).toBeUndefined();
  });

  test('busy, starting and draining workers are never victims', () => {
    const pools = [entry('a', pool([w('busy'), w('starting'), w('draining')]))];
    expect(pickVictim(pools, 'x')).toBeUndefined();
  });

  test('draining workers do not hold a floor', () => {
    const pools = [entry('a', pool([w('draining'), w('idle', { id: 7 })]), { minProcesses: 1 })];
    expect(pickVictim(pools, 'x')).toBeUndefined();
  });

  test('old-generation idle workers go first, whatever the floor', () => {
    const pools = [
      entry('a', pool([w('idle', { id: 1, idleSince: 0, generation: 2 }), w('idle', { id: 2, idleSince: 0, generation: 2 })], 0, 2)),
      entry('b', pool([w('idle', { id: 3, idleSince: 90, generation: 1 })], 0, 2), { minProcesses: 0 }),
      entry('c', pool([w('idle', { id: 4, idleSince: 95, generation: 1 })], 0, 2), { mode: 'static', maxProcesses: 1 }),
    ];
    expect(pickVictim(pools, 'x')).toEqual({ poolId: 'b', workerId: 3 });
  });

  test('ties by pool id, then worker id', () => {
    const pools = [
      entry('b', pool([w('idle', { id: 1, idleSince: 5 })])),
      entry('a', pool([w('idle', { id: 9, idleSince: 5 }), w('idle', { id: 8, idleSince: 5 })])),
    ];
    expect(pickVictim(pools, 'x')).toEqual({ poolId: 'a', workerId: 8 });
    expect(pickVictim([...pools].reverse(), 'x')).toEqual({ poolId: 'a', workerId: 8 });
  });

  test('no pools, no victim', () => {
    expect(pickVictim([], 'x')).toBeUndefined();
  });
});
