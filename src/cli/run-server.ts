import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { InvalidArgumentError } from '../errors';
import { HttpFrontend } from '../frontend/http-server';
import type { Logger } from '../log';
import { Pool } from '../pm/pool';
import { resolvePoolOptions, type PoolOptionsInput } from '../pm/pool-options';
import { IpcDir } from '../spawn/ipc-dir';
import { VERSION } from '../version';
import type { ListenAddress } from './run-args';

export interface RunServerOptions {
  readonly pool: PoolOptionsInput;
  readonly ipcDir: string;
  readonly http: ListenAddress | undefined;
  readonly maxBodyBytes?: number;
  readonly logger: Logger;
}

/** `fcgipm run`: one pool serves every URL. */
export interface RunServer {
  readonly pool: Pool;
  readonly http: HttpFrontend | undefined;
  readonly httpAddress: AddressInfo | undefined;
  readonly ipcDir: IpcDir;
  /** Graceful stop: no new connections, in-flight requests finish, workers stop, sockets go. */
  close(drainTimeoutMs?: number): Promise<void>;
}

/** Refuses a command that cannot be executed, with the reason, before anything starts. */
export function checkExecutable(command: string): string {
  const abs = path.resolve(command);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (err) {
    throw new InvalidArgumentError(`cannot run ${command}: ${(err as NodeJS.ErrnoException).code ?? String(err)} (no such file)`);
  }
  if (!st.isFile()) throw new InvalidArgumentError(`cannot run ${command}: not a regular file`);
  try {
    fs.accessSync(abs, fs.constants.X_OK);
  } catch {
    throw new InvalidArgumentError(`cannot run ${command}: not executable (chmod +x it)`);
  }
  return abs;
}

export async function startRunServer(options: RunServerOptions): Promise<RunServer> {
  const poolOptions = resolvePoolOptions({ ...options.pool, command: checkExecutable(options.pool.command) });
  const ipcDir = new IpcDir({ dir: options.ipcDir });
  ipcDir.prepare();
  const pool = new Pool(poolOptions, { ipcDir, logger: options.logger });
  const target = {
    scriptName: '',
    scriptFilename: poolOptions.command,
    documentRoot: path.dirname(poolOptions.command),
  };
  let http: HttpFrontend | undefined;
  let httpAddress: AddressInfo | undefined;
  if (options.http) {
    http = new HttpFrontend({
      host: options.http.host,
      port: options.http.port,
      logger: options.logger,
      serverSoftware: `fcgipm/${VERSION}`,
      ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
      resolve: (urlPath) => ({ pool, target: { ...target, pathInfo: urlPath } }),
    });
    try {
      httpAddress = await http.listen();
    } catch (err) {
      ipcDir.cleanup();
      throw err;
    }
  }
  pool.start();

  let closing: Promise<void> | undefined;
  return {
    pool,
    http,
    httpAddress,
    ipcDir,
    close(drainTimeoutMs = 30_000) {
      closing ??= (async () => {
        const httpClosed = http?.close();
        await pool.close(drainTimeoutMs);
        await httpClosed;
        ipcDir.cleanup();
      })();
      return closing;
    },
  };
}
