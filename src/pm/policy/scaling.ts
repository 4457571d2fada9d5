import { processFloor, type ScalingOptions } from './options';
import { byLongestIdle, countWorkers, idleStart, isCurrent, type PoolView, type WorkerView } from './snapshot';

/**
 * Scaling and reaping policy: pure functions of (snapshot, options, now, state) that return
 * what to do; the pool carries it out. No timers, no clock reads, no I/O (docs/architecture.md,
 * "Policy is pure"), so tests drive them with plain numbers.
 */

export type RetireReason = 'idle-timeout' | 'lifetime' | 'max-requests' | 'spare' | 'generation';
export type SpawnReason = 'demand' | 'min' | 'spare' | 'static';

export type PolicyAction =
  | { readonly kind: 'spawn'; readonly count: number; readonly reason: SpawnReason }
  | { readonly kind: 'retire'; readonly workerId: number; readonly reason: RetireReason };

export interface TickState {
  /** dynamic: spare workers the next tick may spawn (php-fpm's idle_spawn_rate). */
  readonly spawnRate: number;
}

export const INITIAL_TICK_STATE: TickState = { spawnRate: 1 };

/** Spawns allowed now: under maxProcesses (every live worker counts, draining and old ones too) and the budget. */
function room(view: PoolView, options: ScalingOptions, budget: number): number {
  const left = Math.min(options.maxProcesses - view.workers.length, Number.isNaN(budget) ? 0 : budget);
  return Math.max(0, Math.floor(left));
}

function clamp(wanted: number, limit: number): number {
  return Math.max(0, Math.min(wanted, limit));
}

/**
 * Event-driven (a request queued, a worker exited, a spawn failed): how many workers to spawn
 * NOW for waiting requests — queued minus current-generation workers already starting (each
 * will take one) or idle (about to take one), capped by maxProcesses minus live workers and by
 * `budget` (room left under a global cap across pools). Never negative.
 *
 * Why no tick: mod_fcgid makes a waiting request sleep 1 s before its spawn is even asked for
 * and then throttles with the spawn score (~10 at once, then 1/s); php-fpm ondemand forks one
 * child per accept event. Both show up as seconds of latency on a burst from cold. A waiting
 * request is the best signal there is, so every mode spawns for it at once, all in parallel.
 */
export function spawnForDemand(view: PoolView, options: ScalingOptions, budget: number): number {
  const c = countWorkers(view);
  return clamp(view.queued - c.starting - c.idle, room(view, options, budget));
}

/**
 * Right after a worker was retired for max-requests or lifetime (it is in the view as
 * draining, its request done): workers to spawn NOW, before it has exited, so that recycling
 * never lowers what the pool serves with. As many as bring the current generation back to
 * its floor (minProcesses, or maxProcesses for static) or cover the queued requests, whichever
 * is more. `leaving` workers — retired for recycling, taking no more requests, gone within the
 * kill grace — do not count against maxProcesses for this, so the replacement overlaps its
 * predecessor instead of waiting for its exit (php-fpm and mod_fcgid respawn only after the
 * exit, so a pool at its max serves one short meanwhile). The budget (a global cap across
 * pools) still counts them.
 */
export function spawnForRecycle(view: PoolView, options: ScalingOptions, budget: number, leaving: number): number {
  const c = countWorkers(view);
  const wanted = Math.max(processFloor(options) - c.serving, view.queued - c.starting - c.idle);
  const limit = Math.min(options.maxProcesses - (view.workers.length - Math.max(0, leaving)), Number.isNaN(budget) ? 0 : budget);
  return clamp(wanted, Math.max(0, Math.floor(limit)));
}

/**
 * Right after a worker finished a request (its `requests` already counting it): retire it?
 * - 'max-requests' once requests >= maxRequestsPerProcess (FcgidMaxRequestsPerProcess,
 *   pm.max_requests);
 * - 'lifetime' once it is lifetimeMs old. mod_fcgid only retires idle processes for their
 *   lifetime, so one that is never idle long enough for a scan to see it lives forever; we
 *   retire it between two requests instead;
 * - 'generation' when `currentGeneration` is given and the worker is of another (a reload
 *   happened while it was busy).
 * Never held back by the floor: spawnForRecycle replaces it.
 */
export function retireAfterRequest(
  worker: WorkerView,
  options: ScalingOptions,
  now: number,
  currentGeneration?: number,
): RetireReason | undefined {
  if (options.maxRequestsPerProcess > 0 && worker.requests >= options.maxRequestsPerProcess) return 'max-requests';
  if (options.lifetimeMs > 0 && now - worker.startedAt >= options.lifetimeMs) return 'lifetime';
  if (currentGeneration !== undefined && worker.generation !== currentGeneration) return 'generation';
  return undefined;
}

/**
 * The 1-s maintenance tick (php-fpm's idle-server maintenance runs every 1000 ms; mod_fcgid's
 * idle scan every FcgidIdleScanInterval, 120 s). Returns actions in this fixed order:
 *
 * 1. retire 'generation': idle workers of older generations, by id — a safety net, the
 *    mechanism normally drains them itself at reload.
 * 2. retire 'lifetime': current idle workers at least lifetimeMs old, oldest first. These may
 *    go below the floor — the floor fill below replaces them in the same result when
 *    maxProcesses leaves room; at the max (retired workers count until they exit) the
 *    mechanism replaces them at once with spawnForRecycle. (mod_fcgid skips them at the
 *    floor, so a min-sized pool never recycles.)
 * 3. retire 'idle-timeout' (ondemand, dynamic): current idle workers idle at least
 *    idleTimeoutMs, longest idle first, while the serving count stays above the floor — and,
 *    in dynamic mode, while more than minSpare spares remain (else step 7 would respawn them
 *    at once: php-fpm's dynamic mode has no idle timeout and shrinks only through max_spare).
 *    mod_fcgid counts a killed process until it is reaped seconds later, so its scans can kill
 *    every idle process below FcgidMinProcessesPerClass (mod_fcgid 2.3.9); we count a retired
 *    worker out at once. All that qualify go in one tick, like mod_fcgid's scan; php-fpm
 *    ondemand kills one per second.
 * 4. retire 'spare' (dynamic): ONE idle worker, the longest idle, while idle > maxSpare — as
 *    php-fpm does each tick — never below the floor.
 * 5. spawn 'min' / 'static': back to the floor.
 * 6. spawn 'demand': waiting requests no starting or idle worker will take (what
 *    spawnForDemand does on events; here a safety net, e.g. once a back-off or the global
 *    budget let up).
 * 7. spawn 'spare' (dynamic): min(spawnRate, minSpare − spare) where spare = idle + starting −
 *    queued (php-fpm's idle count is already net of the backlog its idle children accept; our
 *    starting workers will first serve the queue), plus spares just retired for lifetime.
 *    spawnRate doubles after a tick that grew the spares, up to maxSpawnRate, and returns to 1
 *    when no spare was needed, when a spare was retired, or when the cap allowed none
 *    (php-fpm's pm.max_spawn_rate rules).
 *
 * Every spawn is capped by maxProcesses (all live workers count, draining and older
 * generations included — their processes still exist) and by `budget`. Retired workers still
 * count toward that cap until they exit, so a replacement may have to wait for the exit.
 */
export function tick(
  view: PoolView,
  options: ScalingOptions,
  now: number,
  state: TickState,
  budget: number,
): { actions: PolicyAction[]; state: TickState } {
  const actions: PolicyAction[] = [];
  const retired = new Set<number>();
  const counts = countWorkers(view);
  const floor = processFloor(options);
  let serving = counts.serving;
  const retire = (worker: WorkerView, reason: RetireReason): void => {
    retired.add(worker.id);
    actions.push({ kind: 'retire', workerId: worker.id, reason });
    if (isCurrent(view, worker)) serving -= 1;
  };
  const idleNow = (current: boolean): WorkerView[] =>
    view.workers.filter((w) => w.phase === 'idle' && isCurrent(view, w) === current && !retired.has(w.id));

  for (const w of idleNow(false).sort((a, b) => a.id - b.id)) retire(w, 'generation');

  if (options.lifetimeMs > 0) {
    const expired = idleNow(true).filter((w) => now - w.startedAt >= options.lifetimeMs);
    for (const w of expired.sort((a, b) => a.startedAt - b.startedAt || a.id - b.id)) retire(w, 'lifetime');
  }

  if (options.mode !== 'static' && options.idleTimeoutMs > 0) {
    const idle = idleNow(true);
    const expired = idle.filter((w) => now - idleStart(w) >= options.idleTimeoutMs);
    // dynamic: keep minSpare spares (net of the queue), or step 7 would respawn what this retires.
    const keepSpare = options.mode === 'dynamic' ? options.minSpare + view.queued - counts.starting : 0;
    let spare = idle.length;
    for (const w of expired.sort(byLongestIdle)) {
      if (serving <= floor || spare <= keepSpare) break;
      retire(w, 'idle-timeout');
      spare -= 1;
    }
  }

  let spareRetired = false;
  if (options.mode === 'dynamic') {
    const idle = idleNow(true).sort(byLongestIdle);
    const longest = idle[0];
    if (longest && idle.length > options.maxSpare && serving > floor) {
      retire(longest, 'spare');
      spareRetired = true;
    }
  }

  let left = room(view, options, budget);
  const spawn = (wanted: number, reason: SpawnReason): number => {
    const count = clamp(wanted, left);
    if (count > 0) {
      actions.push({ kind: 'spawn', count, reason });
      left -= count;
    }
    return count;
  };

  let available = idleNow(true).length + counts.starting;
  const floorSpawned = spawn(floor - serving, options.mode === 'static' ? 'static' : 'min');
  available += floorSpawned;
  available += spawn(view.queued - available, 'demand');

  let spawnRate = INITIAL_TICK_STATE.spawnRate;
  if (options.mode === 'dynamic') {
    const rate = Math.min(options.maxSpawnRate, Math.max(1, Math.floor(state.spawnRate) || 1));
    // Spares lost to lifetime recycling are replaced on top of the rate, which limits growth
    // only: recycling must never leave the pool short (and is not growth, so does not double).
    const lifetimeRetired = actions.filter((a) => a.kind === 'retire' && a.reason === 'lifetime').length;
    const recycled = Math.max(0, lifetimeRetired - floorSpawned);
    const wanted = options.minSpare - Math.max(0, available - view.queued);
    if (!spareRetired && wanted > 0 && spawn(Math.min(rate + recycled, wanted), 'spare') > recycled) {
      spawnRate = Math.min(options.maxSpawnRate, rate * 2);
    }
  }
  return { actions, state: { spawnRate } };
}

/**
 * When a global process cap (across pools) is reached and `requestingPoolId` needs a process:
 * which idle worker of ANOTHER pool to retire to make room. Idle workers of an older
 * generation go first (they are leaving anyway), then the one idle longest across the pools,
 * never taking a pool below its floor (so a static pool is never a victim); ties by pool id,
 * then worker id. undefined if none. php-fpm's process.max simply refuses the fork and
 * mod_fcgid's FcgidMaxProcesses makes the request poll until a scan kills something; taking
 * the coldest worker elsewhere serves the request without either.
 */
export function pickVictim(
  pools: ReadonlyArray<{ readonly poolId: string; readonly view: PoolView; readonly options: ScalingOptions }>,
  requestingPoolId: string,
): { poolId: string; workerId: number } | undefined {
  let best: { poolId: string; worker: WorkerView; old: boolean } | undefined;
  for (const { poolId, view, options } of pools) {
    if (poolId === requestingPoolId) continue;
    const aboveFloor = countWorkers(view).serving > processFloor(options);
    for (const worker of view.workers) {
      if (worker.phase !== 'idle') continue;
      const old = !isCurrent(view, worker);
      if (!old && !aboveFloor) continue;
      if (!best || better({ poolId, worker, old }, best)) best = { poolId, worker, old };
    }
  }
  return best && { poolId: best.poolId, workerId: best.worker.id };
}

function better(
  a: { poolId: string; worker: WorkerView; old: boolean },
  b: { poolId: string; worker: WorkerView; old: boolean },
): boolean {
  if (a.old !== b.old) return a.old;
  const idle = idleStart(a.worker) - idleStart(b.worker);
  if (idle !== 0) return idle < 0;
  if (a.poolId !== b.poolId) return a.poolId < b.poolId;
  return a.worker.id < b.worker.id;
}
