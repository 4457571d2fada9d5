import {
  afterUnansweredClose,
  countsAsAttempt,
  replayableUnread,
  fateOfExit,
  killOnBusyTimeout,
  mayReplay,
  MAX_ATTEMPTS,
  onAttemptFailure,
  workerAfterFailure,
} from '../../../src/pm/policy/attempts';

/** The replay and kill rules, with plain values (the pool's mechanism: test/pm/pool-lifecycle.test.ts). */
describe('attempt policy', () => {
  test.each([
    ['connect', false, false, 'replay'],
    ['connect', false, true, 'replay'],
    ['socket-gone', false, false, 'replay'],
    ['socket-gone', false, true, 'replay'],
    ['closed', false, false, 'await-fate'],
    ['closed', true, false, 'fail'],
    ['closed', false, true, 'fail'],
    ['io-timeout', false, false, 'fail'],
    ['protocol', false, false, 'fail'],
    ['other', false, false, 'fail'],
  ] as const)('%s failure, response started %s, streamed body %s → %s', (kind, started, stream, expected) => {
    expect(onAttemptFailure(kind, started, stream)).toBe(expected);
  });

  test('a worker whose socket is gone costs no attempt (it is retired); every other failure does', () => {
    expect(countsAsAttempt('socket-gone')).toBe(false);
    for (const kind of ['connect', 'closed', 'io-timeout', 'protocol', 'other'] as const) expect(countsAsAttempt(kind)).toBe(true);
  });

  test.each([
    [{ code: 0 }, false, 'exited-cleanly'],
    [{ code: 1 }, false, 'crashed'],
    [{ code: null }, true, 'exited-cleanly'],
    [{ code: null }, false, 'crashed'],
    [{ code: 0, error: new Error('ENOENT') }, true, 'crashed'],
  ] as const)('an exit %o, retired %s, reads as %s', (exit, retired, expected) => {
    expect(fateOfExit(exit, retired)).toBe(expected);
  });

  test.each([
    ['crashed', true, 1, 'fail'],
    ['alive', false, 1, 'fail'],
    ['alive', true, 1, 'resend'],
    ['alive', true, MAX_ATTEMPTS - 1, 'resend'],
    ['alive', true, MAX_ATTEMPTS, 'replay'],
    ['exited-cleanly', true, 1, 'replay'],
    ['exited-cleanly', false, 1, 'replay'],
  ] as const)('unanswered close: fate %s, kept connection %s, attempt %d → %s', (fate, reused, attempts, expected) => {
    expect(afterUnansweredClose(fate, reused, attempts)).toBe(expected);
  });

  test.each([
    ['crashed', false, 1, true, 'replay'],
    ['crashed', true, 1, true, 'replay'],
    ['crashed', true, 1, false, 'fail'],
    ['alive', false, 1, true, 'fail'],
    ['exited-cleanly', false, 1, true, 'replay'],
  ] as const)('unanswered close: fate %s, kept connection %s, attempt %d, request never taken %s → %s', (fate, reused, attempts, neverTaken, expected) => {
    expect(afterUnansweredClose(fate, reused, attempts, neverTaken)).toBe(expected);
  });

  test.each([
    ['GET', false, true],
    ['HEAD', false, true],
    ['OPTIONS', false, true],
    ['GET', true, false],
    ['POST', false, false],
    ['DELETE', false, false],
    ['PUT', false, false],
  ] as const)('a %s request (body %s) a dead worker left unread may go to another: %s', (method, hasBody, expected) => {
    expect(replayableUnread(method, hasBody)).toBe(expected);
  });

  test('a request is tried on at most MAX_ATTEMPTS (3) workers', () => {
    expect(MAX_ATTEMPTS).toBe(3);
    expect([1, 2, 3, 4].map(mayReplay)).toEqual([true, true, false, false]);
  });

  test.each([
    ['io-timeout', 1, 'retire'],
    ['io-timeout', 4, 'retire'],
    ['protocol', 1, 'retire'],
    ['closed', 1, 'check-fate'],
    ['closed', 4, 'release'],
    ['other', 1, 'release'],
  ] as const)('after a %s failure, a worker with %d slot(s) is to %s', (kind, slots, expected) => {
    expect(workerAfterFailure(kind, slots)).toBe(expected);
  });

  test('a busy timeout kills a single-slot worker, not a shared-socket backend', () => {
    expect(killOnBusyTimeout(1)).toBe(true);
    expect(killOnBusyTimeout(4)).toBe(false);
  });
});
