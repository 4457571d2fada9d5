import type { Worker } from './worker';

/**
 * The stack of workers with a free slot. Most recently used first: its caches are warm
 * (mod_fcgid's idle list is LIFO too). Entries that went away meanwhile (draining, dead,
 * full) are dropped as they come up, so parking is O(1) and nothing is searched.
 */
export class IdleWorkers {
  private readonly stack: Worker[] = [];

  park(worker: Worker): void {
    if (worker.parked) return;
    worker.parked = true;
    this.stack.push(worker);
  }

  take(): Worker | undefined {
    for (let w = this.stack.pop(); w; w = this.stack.pop()) {
      w.parked = false;
      if (w.state !== 'draining' && w.state !== 'starting' && w.hasFreeSlot && w.process.alive) return w;
    }
    return undefined;
  }
}
