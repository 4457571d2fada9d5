import { EventEmitter } from 'node:events';
import type { EndRequest, FcgiRequest, ResponseHandler } from '../../src/client/request';
import { WorkerClosedError } from '../../src/errors';
import type { WorkerExit, WorkerSpawnOptions } from '../../src/spawn/worker-process';
import type { ChildProcess, WorkerConnection, WorkerLauncher } from '../../src/pm/worker-launcher';

/**
 * In-memory workers for the pool's unit tests (src/pm/worker-launcher.ts): no process, no
 * socket. A FakeProcess records the signals it gets and exits when the test (or a signal it
 * heeds) says so; a FakeConnection hands each request to the test, which answers or drops it.
 * What these tests check is the pool's mechanism and policy; the real processes and the wire
 * are covered by test/e2e/pm.test.ts and the front-end tests.
 */

let pidSeq = 900_000;

export class FakeProcess extends EventEmitter implements ChildProcess {
  readonly pid = ++pidSeq;
  readonly socketPath: string;
  readonly socketFd = undefined;
  readonly exited: Promise<WorkerExit>;
  readonly signals: NodeJS.Signals[] = [];
  /** Set to make it ignore SIGTERM (as a stuck app does): only SIGKILL ends it. */
  ignoresTerm = false;
  exitInfo: WorkerExit | undefined;
  private resolveExit!: (exit: WorkerExit) => void;

  constructor(readonly options: WorkerSpawnOptions) {
    super();
    this.socketPath = options.socketPath;
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (!this.alive) return false;
    this.signals.push(signal);
    if (signal === 'SIGKILL' || !this.ignoresTerm) setImmediate(() => this.exit(null, signal));
    return true;
  }

  /** The process ends (exit code, or the signal that ended it). */
  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    if (!this.alive) return;
    this.exitInfo = { code, signal };
    this.resolveExit(this.exitInfo);
    this.emit('exit', this.exitInfo);
  }
}

/** One request the pool sent to a fake worker, for the test to answer. */
export interface SentRequest {
  readonly process: FakeProcess;
  readonly connection: FakeConnection;
  readonly request: FcgiRequest;
  readonly handler: ResponseHandler;
  /** Answers with `body` on STDOUT, then END_REQUEST. */
  answer(body?: string): void;
  /** The app closes the connection without a byte of answer (as php-cgi at its last request). */
  drop(): void;
}

export class FakeConnection implements WorkerConnection {
  reusable = true;
  closedByPeer = false;
  aborted = false;
  requestsSeen = 0;

  constructor(
    private readonly launcher: FakeLauncher,
    readonly process: FakeProcess,
  ) {}

  request(req: FcgiRequest, handler: ResponseHandler): void {
    this.requestsSeen += 1;
    this.reusable = false;
    const sent: SentRequest = {
      process: this.process,
      connection: this,
      request: req,
      handler,
      answer: (body = 'ok') => {
        if (this.aborted) return;
        handler.onStdout(Buffer.from(body));
        this.reusable = true;
        const end: EndRequest = { appStatus: 0, protocolStatus: 0 };
        handler.onEnd(end);
      },
      drop: () => {
        this.reusable = false;
        handler.onError(new WorkerClosedError('the app closed the connection', { responseStarted: false, reusedConnection: this.requestsSeen > 1 }));
      },
    };
    this.launcher.record(sent);
    if (this.launcher.autoAnswer) setImmediate(() => sent.answer());
  }

  resumeResponse(): void {}

  abort(): void {
    this.aborted = true;
    this.reusable = false;
  }

  close(): void {
    this.reusable = false;
  }

  destroy(): void {
    this.reusable = false;
  }
}

export class FakeLauncher implements WorkerLauncher {
  readonly processes: FakeProcess[] = [];
  readonly sent: SentRequest[] = [];
  /** Answer every request at once (else the test answers through `sent`). */
  autoAnswer = true;
  private waiters: Array<{ n: number; resolve: (s: SentRequest) => void }> = [];

  /** @internal FakeConnection.request. */
  record(sent: SentRequest): void {
    this.sent.push(sent);
    const n = this.sent.length;
    for (const w of this.waiters.filter((x) => x.n === n)) w.resolve(sent);
    this.waiters = this.waiters.filter((x) => x.n !== n);
  }

  /** Resolves with the n-th request (1-based) sent to any fake worker, once it is sent. */
  nthSent(n: number): Promise<SentRequest> {
    const known = this.sent[n - 1];
    if (known) return Promise.resolve(known);
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  /** Every new process exits 1 before it accepts (a broken binary, a bad configuration). */
  crashAtStart = false;

  spawn(options: WorkerSpawnOptions): ChildProcess {
    const p = new FakeProcess(options);
    this.processes.push(p);
    if (this.crashAtStart) setImmediate(() => p.exit(1));
    return p;
  }

  /** Ready at once (the real one watches /proc for accept() on fd 0); never, for a process crashing at start. */
  waitReady(): { promise: Promise<unknown>; cancel: () => void } {
    if (this.crashAtStart) return { promise: new Promise(() => undefined), cancel: () => undefined };
    return { promise: Promise.resolve('accepting'), cancel: () => undefined };
  }

  connect(socketPath: string): Promise<WorkerConnection> {
    const p = this.processes.find((x) => x.socketPath === socketPath && x.alive);
    if (!p) return Promise.reject(new Error(`nothing listens on ${socketPath}`));
    return Promise.resolve(new FakeConnection(this, p));
  }

  probeSlots(): Promise<number | undefined> {
    return Promise.resolve(undefined);
  }

  /** Processes not yet exited. */
  live(): FakeProcess[] {
    return this.processes.filter((p) => p.alive);
  }
}

/** Socket paths that name nothing on disk (the fake connects by name only). */
export function fakeIpcDir(): { nextSocketPath: () => string } {
  let n = 0;
  return { nextSocketPath: () => `/fake-ipc/worker-${++n}.sock` };
}
