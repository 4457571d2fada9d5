import { Connection, type ConnectionOptions } from '../client/connection';
import { CAPACITY_VARIABLES, capacityFrom, queryValues } from '../client/get-values';
import { waitUntilAccepting } from '../spawn/readiness';
import { WorkerProcess, type WorkerExit, type WorkerSpawnOptions } from '../spawn/worker-process';

/** What the pool uses of a worker process (spawn/worker-process.ts). */
export interface ChildProcess {
  readonly socketPath: string;
  readonly pid: number | undefined;
  readonly exited: Promise<WorkerExit>;
  readonly socketFd: number | undefined;
  readonly exitInfo: WorkerExit | undefined;
  readonly alive: boolean;
  kill(signal?: NodeJS.Signals): boolean;
  on(event: 'exit', listener: (exit: WorkerExit) => void): unknown;
}

/** What the pool uses of a FastCGI connection to a worker (client/connection.ts). */
export type WorkerConnection = Pick<
  Connection,
  'reusable' | 'closedByPeer' | 'request' | 'resumeResponse' | 'abort' | 'close' | 'destroy'
>;

/**
 * How the pool reaches the operating system: start a process, learn that it accepts, connect
 * to it, ask it its capacity. The real one is below; the pool's unit tests pass an in-memory
 * one (test/pm/fake-workers.ts), so that they exercise the pool's mechanism without processes.
 */
export interface WorkerLauncher {
  spawn(options: WorkerSpawnOptions): ChildProcess;
  waitReady(pid: number, timeoutMs: number): { promise: Promise<unknown>; cancel: () => void };
  connect(socketPath: string, options: ConnectionOptions & { connectTimeoutMs: number }): Promise<WorkerConnection>;
  /** The slots it says it has (FCGI_GET_VALUES), or undefined. */
  probeSlots(socketPath: string, timeoutMs: number): Promise<number | undefined>;
}

export const REAL_LAUNCHER: WorkerLauncher = {
  spawn: (options) => WorkerProcess.spawn(options),
  waitReady: (pid, timeoutMs) => waitUntilAccepting(pid, { timeoutMs }),
  connect: (socketPath, options) => Connection.connect(socketPath, options),
  probeSlots: (socketPath, timeoutMs) => queryValues(socketPath, CAPACITY_VARIABLES, timeoutMs).then(capacityFrom),
};
