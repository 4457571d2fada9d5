import { DEFAULT_DRAIN_TIMEOUT_MS } from '../defaults';
import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { InvalidArgumentError } from '../errors';
import { HttpFrontend, wholeSiteResolver } from '../frontend/http-server';
import type { Logger } from '../log';
import { Manager } from '../pm/manager';
import type { Pool } from '../pm/pool';
import type { PoolOptionsInput } from '../pm/pool-options';
import { AdminServer } from '../status/admin-server';
import { IpcDir } from '../spawn/ipc-dir';
import { reclaimIpcDir } from '../spawn/orphans';
import { VERSION } from '../version';
import type { ListenAddress } from './run-args';

export interface RunServerOptions {
  readonly pool: PoolOptionsInput;
  readonly ipcDir: string;
  readonly http: ListenAddress | undefined;
  /** Admin listener (/status, /metrics, /status.json, /healthz); off when undefined. */
  readonly admin?: ListenAddress | undefined;
  /** The script the app runs (SCRIPT_FILENAME), for interpreters such as php-cgi; default the command. */
  readonly script?: string | undefined;
  readonly maxBodyBytes?: number;
  readonly logger: Logger;
}

/** `fcgipm run`: one pool serves every URL. */
export interface RunServer {
  readonly manager: Manager;
  readonly pool: Pool;
  readonly http: HttpFrontend | undefined;
  readonly httpAddress: AddressInfo | undefined;
  readonly adminAddress: AddressInfo | undefined;
  readonly ipcDir: IpcDir;
  /** SIGHUP: a new generation of workers; in-flight requests finish on the old one. */
  reload(): number;
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
  const command = checkExecutable(options.pool.command);
  const script = options.script !== undefined ? path.resolve(options.script) : command;
  if (options.script !== undefined && !fs.existsSync(script)) {
    throw new InvalidArgumentError(`--script ${options.script}: no such file`);
  }
  const ipcDir = new IpcDir({ dir: options.ipcDir });
  ipcDir.prepare();
  reclaimIpcDir(ipcDir, options.logger);
  const manager = new Manager({ ipcDir, logger: options.logger });
  let pool: Pool;
  try {
    pool = manager.poolForClass({ ...options.pool, command });
  } catch (err) {
    ipcDir.cleanup();
    throw err;
  }
  const target = { scriptName: '', scriptFilename: script, documentRoot: path.dirname(script) };
  let http: HttpFrontend | undefined;
  let admin: AdminServer | undefined;
  let httpAddress: AddressInfo | undefined;
  let adminAddress: AddressInfo | undefined;
  try {
    if (options.admin) {
      admin = new AdminServer({ host: options.admin.host, port: options.admin.port, manager, logger: options.logger });
      adminAddress = await admin.listen();
    }
    if (options.http) {
      http = new HttpFrontend({
        host: options.http.host,
        port: options.http.port,
        logger: options.logger,
        serverSoftware: `fcgipm/${VERSION}`,
        maxBodyBytes: options.maxBodyBytes,
        resolve: wholeSiteResolver({ pool, target }),
      });
      httpAddress = await http.listen();
    }
  } catch (err) {
    await admin?.close();
    ipcDir.cleanup();
    throw err;
  }
  manager.start();

  let closing: Promise<void> | undefined;
  return {
    manager,
    pool,
    http,
    httpAddress,
    adminAddress,
    ipcDir,
    reload: () => manager.reload(),
    close(drainTimeoutMs = DEFAULT_DRAIN_TIMEOUT_MS) {
      closing ??= (async () => {
        admin?.markStopping();
        const httpClosed = http?.close();
        await manager.close(drainTimeoutMs);
        await httpClosed;
        await admin?.close();
        ipcDir.cleanup();
      })();
      return closing;
    },
  };
}
