import { QueueFullError, QueueTimeoutError } from '../errors';
import { REAL_CLOCK, type Clock, type TimerHandle } from './clock';

export interface WaitQueueOptions<T> {
  /** Most entries held at once; a push beyond it is refused with QueueFullError. */
  readonly maxLength: number;
  /** How long an entry may wait; then onTimeout gets it with a QueueTimeoutError. */
  readonly timeoutMs: number;
  readonly onTimeout: (value: T, err: QueueTimeoutError) => void;
  /** Time and deadline timers (default: the real clock). */
  readonly clock?: Clock;
}

export interface Waiter<T> {
  readonly value: T;
  readonly enqueuedAt: number;
}

interface Entry<T> extends Waiter<T> {
  timer: TimerHandle | undefined;
  live: boolean;
}

/**
 * A bounded FIFO of requests waiting for a worker (undici's FixedQueue in spirit). Nothing
 * polls: the pool shifts an entry when a worker is released, spawned or exits, and each
 * entry's own deadline timer answers it if none comes in time (mod_fcgid instead sleeps in
 * 1-s steps for up to 64 s).
 *
 * Cancelled entries are dropped lazily at the head, so cancel() is O(1).
 */
export class WaitQueue<T> {
  private readonly options: WaitQueueOptions<T>;
  private readonly clock: Clock;
  private items: Array<Entry<T> | undefined> = [];
  private head = 0;
  private live = 0;
  private peak = 0;

  constructor(options: WaitQueueOptions<T>) {
    this.options = options;
    this.clock = options.clock ?? REAL_CLOCK;
  }

  /** Entries waiting now. */
  get length(): number {
    return this.live;
  }

  /** The most entries ever waiting at once. */
  get maxLength(): number {
    return this.peak;
  }

  /** Appends at the tail; a replayed request goes to the head (`front`). */
  push(value: T, front = false): Waiter<T> | QueueFullError {
    if (!front && this.live >= this.options.maxLength) {
      return new QueueFullError(`wait queue is full (${this.options.maxLength} requests waiting)`);
    }
    const entry: Entry<T> = { value, enqueuedAt: this.clock.now(), timer: undefined, live: true };
    entry.timer = this.clock.setTimeout(() => this.expire(entry), this.options.timeoutMs);
    if (front) {
      this.compact();
      this.items.unshift(entry);
    } else {
      this.items.push(entry);
    }
    this.live += 1;
    if (this.live > this.peak) this.peak = this.live;
    return entry;
  }

  /** Removes and returns the oldest live entry. */
  shift(): Waiter<T> | undefined {
    while (this.head < this.items.length) {
      const entry = this.items[this.head];
      this.items[this.head] = undefined;
      this.head += 1;
      if (entry?.live) {
        this.settle(entry);
        this.compactIfSparse();
        return entry;
      }
    }
    this.items = [];
    this.head = 0;
    return undefined;
  }

  /** Takes an entry out (its request went away). Idempotent. */
  cancel(waiter: Waiter<T>): void {
    const entry = waiter as Entry<T>;
    if (entry.live) this.settle(entry);
  }

  /** Removes every entry and returns their values, oldest first. */
  drain(): T[] {
    const out: T[] = [];
    for (let w = this.shift(); w; w = this.shift()) out.push(w.value);
    return out;
  }

  private settle(entry: Entry<T>): void {
    entry.live = false;
    if (entry.timer) this.clock.clearTimeout(entry.timer);
    entry.timer = undefined;
    this.live -= 1;
  }

  private expire(entry: Entry<T>): void {
    if (!entry.live) return;
    this.settle(entry);
    const waited = this.clock.now() - entry.enqueuedAt;
    this.options.onTimeout(
      entry.value,
      new QueueTimeoutError(`no worker became free within ${this.options.timeoutMs} ms (waited ${waited} ms)`),
    );
  }

  private compactIfSparse(): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) this.compact();
  }

  private compact(): void {
    if (this.head > 0) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
