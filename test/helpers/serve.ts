import fs from 'node:fs';
import path from 'node:path';
import { startRunServer, type RunServer } from '../../src/cli/run-server';
import type { PoolOptionsInput } from '../../src/pm/pool-options';
import { fixture, memoryLogger, tempDir, type MemoryLog } from './fixtures';

export interface Served {
  server: RunServer;
  base: string;
  /** http://127.0.0.1:PORT of the admin listener; '' unless started with `admin: true`. */
  admin: string;
  ipcDir: string;
  lines: Array<Record<string, unknown>>;
  waitForLine: MemoryLog['waitForLine'];
  /** Resolves once at least n workers are idle (ready and waiting), on worker-ready events. */
  waitForIdle(n: number): Promise<void>;
  /** Most worker processes alive at once since start. */
  peakWorkers(): number;
  close(): Promise<void>;
}

const open: Served[] = [];

/** Starts `fcgipm run` in-process on a loopback port with a private IPC dir. */
export async function serve(
  fixtureOrPath: string,
  pool: Partial<PoolOptionsInput> = {},
  extra: { maxBodyBytes?: number; script?: string; admin?: boolean } = {},
): Promise<Served> {
  const { admin, ...rest } = extra;
  const dir = tempDir();
  const ipcDir = path.join(dir, 'sock');
  const { logger, lines, waitForLine } = memoryLogger();
  const command = fixtureOrPath.includes('/') ? fixtureOrPath : fixture(fixtureOrPath);
  const server = await startRunServer({
    // The tests run as root on CI: workers may too, unless a test says otherwise.
    pool: { command, allowRoot: true, ...pool },
    ipcDir,
    http: { host: '127.0.0.1', port: 0 },
    logger,
    ...rest,
    ...(admin ? { admin: { host: '127.0.0.1', port: 0 } } : {}),
  });
  let alive = 0;
  let peak = 0;
  server.pool.on('worker-start', () => {
    alive += 1;
    peak = Math.max(peak, alive);
  });
  server.pool.on('worker-exit', () => {
    alive -= 1;
  });
  const served: Served = {
    server,
    base: `http://127.0.0.1:${server.httpAddress!.port}`,
    admin: server.adminAddress ? `http://127.0.0.1:${server.adminAddress.port}` : '',
    ipcDir,
    lines,
    waitForLine,
    peakWorkers: () => peak,
    waitForIdle: (n) =>
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (server.pool.snapshot().idleProcesses < n) return;
          server.pool.off('worker-ready', onReady);
          resolve();
        };
        // 'worker-ready' fires just before the worker is parked: look again on the next turn.
        const onReady = (): void => void setImmediate(check);
        server.pool.on('worker-ready', onReady);
        check();
      }),
    close: async () => {
      await server.close(5_000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  open.push(served);
  return served;
}

/** Closes every server started by serve(); call from afterEach. */
export async function closeAll(): Promise<void> {
  const all = open.splice(0);
  await Promise.all(all.map((s) => s.close()));
}
