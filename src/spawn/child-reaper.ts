import { constants as osConstants } from 'node:os';
import { watchExit } from './native';

/**
 * The end of a process started with spawnProcess (native.ts), which libuv does not know:
 * its exit code or the name of the signal that ended it.
 */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(osConstants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

/** Calls onExit once, on the event loop, when pid has exited; the process is reaped by then. */
export function watchChild(pid: number, onExit: (exit: ChildExit) => void): void {
  watchExit(pid, (raw) => {
    onExit({ code: raw.code, signal: raw.signal !== null ? (SIGNAL_NAMES.get(raw.signal) ?? null) : null });
  });
}
