import { QueueFullError, QueueTimeoutError } from '../../src/errors';
import { WaitQueue } from '../../src/pm/wait-queue';

describe('WaitQueue', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  function make(maxLength = 3, timeoutMs = 1000) {
    const expired: Array<[string, QueueTimeoutError]> = [];
    const q = new WaitQueue<string>({ maxLength, timeoutMs, onTimeout: (v, e) => expired.push([v, e]) });
    return { q, expired };
  }

  test('first in, first out', () => {
    const { q } = make();
    q.push('a');
    q.push('b');
    q.push('c');
    expect([q.shift()?.value, q.shift()?.value, q.shift()?.value, q.shift()]).toEqual(['a', 'b', 'c', undefined]);
    expect(q.length).toBe(0);
  });

  test('refuses beyond maxLength with a typed error, but a replay may go to the front', () => {
    const { q } = make(2);
    q.push('a');
    q.push('b');
    const refused = q.push('c');
    expect(refused).toBeInstanceOf(QueueFullError);
    expect((refused as QueueFullError).code).toBe('FCGIPM_ERR_QUEUE_FULL');
    q.push('replayed', true);
    expect(q.shift()?.value).toBe('replayed');
    expect(q.maxLength).toBe(3);
  });

  test('an entry past its deadline is handed to onTimeout and leaves the queue', () => {
    const { q, expired } = make(3, 1000);
    q.push('a');
    jest.advanceTimersByTime(500);
    q.push('b');
    jest.advanceTimersByTime(600);
    expect(expired.map(([v]) => v)).toEqual(['a']);
    expect(expired[0]![1].code).toBe('FCGIPM_ERR_QUEUE_TIMEOUT');
    expect(q.length).toBe(1);
    expect(q.shift()?.value).toBe('b');
    jest.advanceTimersByTime(5000);
    expect(expired.length).toBe(1);
  });

  test('cancel removes an entry and its timer; cancel twice is harmless', () => {
    const { q, expired } = make();
    const a = q.push('a');
    q.push('b');
    if (a instanceof QueueFullError) throw a;
    q.cancel(a);
    q.cancel(a);
    expect(q.length).toBe(1);
    jest.advanceTimersByTime(2000);
    expect(expired.map(([v]) => v)).toEqual(['b']);
  });

  test('stays correct over many pushes and shifts (compaction)', () => {
    const { q } = make(5000, 60_000);
    const out: number[] = [];
    let next = 0;
    const q2 = new WaitQueue<number>({ maxLength: 5000, timeoutMs: 60_000, onTimeout: () => undefined });
    for (let round = 0; round < 50; round += 1) {
      for (let i = 0; i < 100; i += 1) q2.push(next++);
      for (let i = 0; i < 90; i += 1) out.push(q2.shift()!.value);
    }
    out.push(...q2.drain());
    expect(out).toEqual(Array.from({ length: next }, (_, i) => i));
    expect(q.length).toBe(0);
  });
});
