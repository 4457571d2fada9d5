import os from 'node:os';
import { InvalidArgumentError } from '../../../src/errors';
import {
  processFloor,
  resolveScalingOptions,
  SCALING_DEFAULTS,
  type ScalingOptions,
} from '../../../src/pm/policy/options';

describe('resolveScalingOptions', () => {
  test('defaults: ondemand, nothing warm, mod_fcgid idle timeout, recycling off', () => {
    expect(resolveScalingOptions({})).toEqual({
      mode: 'ondemand',
      minProcesses: 0,
      maxProcesses: Math.max(4, 2 * os.availableParallelism()),
      minSpare: 1,
      maxSpare: 3,
      maxSpawnRate: 32,
      idleTimeoutMs: 300_000,
      lifetimeMs: 0,
      maxRequestsPerProcess: 0,
    });
    expect(resolveScalingOptions({})).toEqual(SCALING_DEFAULTS);
  });

  test('given values are kept', () => {
    const given: ScalingOptions = {
      mode: 'dynamic',
      minProcesses: 2,
      maxProcesses: 20,
      minSpare: 2,
      maxSpare: 6,
      maxSpawnRate: 8,
      idleTimeoutMs: 10_000,
      lifetimeMs: 3_600_000,
      maxRequestsPerProcess: 500,
    };
    expect(resolveScalingOptions(given)).toEqual(given);
  });

  test.each<[string, Partial<ScalingOptions>, Partial<ScalingOptions>]>([
    ['maxSpare follows a larger minSpare', { minSpare: 5, maxProcesses: 10 }, { minSpare: 5, maxSpare: 5 }],
    ['spare defaults shrink to maxProcesses', { maxProcesses: 2, mode: 'dynamic' }, { minSpare: 1, maxSpare: 2 }],
    ['spare defaults shrink to maxProcesses of 1', { maxProcesses: 1, mode: 'dynamic' }, { minSpare: 1, maxSpare: 1 }],
    ['minSpare default follows a smaller maxSpare', { maxSpare: 0 }, { minSpare: 0, maxSpare: 0 }],
    ['undefined fields take defaults', { maxProcesses: undefined, mode: undefined }, { mode: 'ondemand' }],
  ])('%s', (_name, input, expected) => {
    expect(resolveScalingOptions(input)).toMatchObject(expected);
  });

  test.each<[Partial<ScalingOptions>, string]>([
    [{ minProcesses: 5, maxProcesses: 4 }, 'minProcesses (5) must not exceed maxProcesses (4)'],
    [{ maxProcesses: 0 }, 'maxProcesses must be an integer >= 1'],
    [{ minProcesses: -1 }, 'minProcesses must be an integer >= 0'],
    [{ minProcesses: 1.5 }, 'minProcesses must be an integer >= 0'],
    [{ maxProcesses: Number.NaN }, 'maxProcesses must be an integer >= 1'],
    [{ minSpare: 4, maxSpare: 3 }, 'minSpare (4) must not exceed maxSpare (3)'],
    [{ minSpare: -1 }, 'minSpare must be an integer >= 0'],
    [{ maxSpare: -2 }, 'maxSpare must be an integer >= 0'],
    [{ mode: 'dynamic', minSpare: 0 }, 'minSpare must be an integer >= 1'],
    [{ mode: 'dynamic', maxSpare: 0 }, 'maxSpare must be an integer >= 1'],
    [{ mode: 'dynamic', maxProcesses: 4, minSpare: 5, maxSpare: 6 }, 'minSpare (5) must not exceed maxProcesses (4)'],
    [{ mode: 'dynamic', maxProcesses: 4, maxSpare: 6 }, 'maxSpare (6) must not exceed maxProcesses (4)'],
    [{ maxSpawnRate: 0 }, 'maxSpawnRate must be an integer >= 1'],
    [{ idleTimeoutMs: -1 }, 'idleTimeoutMs must be an integer >= 0'],
    [{ lifetimeMs: -5 }, 'lifetimeMs must be an integer >= 0'],
    [{ maxRequestsPerProcess: -1 }, 'maxRequestsPerProcess must be an integer >= 0'],
    [{ mode: 'elastic' as never }, 'mode must be one of ondemand, dynamic, static'],
  ])('rejects %j', (input, message) => {
    let thrown: unknown;
    try {
      resolveScalingOptions(input);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(InvalidArgumentError);
    expect((thrown as InvalidArgumentError).code).toBe('FCGIPM_ERR_INVALID_ARG');
    expect((thrown as Error).message).toContain(message);
  });

  test('spare bounds above maxProcesses are harmless outside dynamic mode', () => {
    expect(resolveScalingOptions({ mode: 'static', maxProcesses: 2, minSpare: 3, maxSpare: 5 })).toMatchObject({
      minSpare: 3,
      maxSpare: 5,
    });
  });
});

describe('processFloor', () => {
  test.each<[Partial<ScalingOptions>, number]>([
    [{ mode: 'ondemand', minProcesses: 2, maxProcesses: 6 }, 2],
    [{ mode: 'dynamic', minProcesses: 3, maxProcesses: 6 }, 3],
    [{ mode: 'static', minProcesses: 1, maxProcesses: 6 }, 6],
  ])('%j → %d', (input, floor) => {
    expect(processFloor(resolveScalingOptions(input))).toBe(floor);
  });
});
