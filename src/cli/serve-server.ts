import type { AddressInfo } from 'node:net';
import type { Config, ListenTarget } from '../config/types';
import { InvalidArgumentError } from '../errors';
import { AccessLog } from '../frontend/access-log';
import { FcgiServer } from '../frontend/fcgi-server';
import { forwardFastcgi } from '../frontend/fcgi-forward';
import { queuedConnectionsMigrate } from '../frontend/listen-fd';
import { HandoffFrontend } from '../frontend/handoff-frontend';
import { HttpFrontend } from '../frontend/http-server';
import type { LogFile, Logger } from '../log';
import { Manager } from '../pm/manager';
import { PoolRegistry } from '../pm/pool-registry';
import { Router } from '../routing/router';
import { ConfigResolver } from '../routing/site-resolver';
import { AdminServer } from '../status/admin-server';
import { readAdminToken } from '../status/admin-token';
import { checkAdminExposure } from '../config/admin-exposure';
import { IpcDir } from '../spawn/ipc-dir';
import { reclaimIpcDir } from '../spawn/orphans';
import { VERSION } from '../version';
import { refuseUnstartableClasses } from './class-check';
import { listenNamed } from './listen-errors';
import type { ListenerName } from '../systemd/listen-fds';
import { lookupGroup, lookupUser } from '../spawn/user-db';

/** A running fcgipm built from a Config: `fcgipm serve --config` (and, in time, `run`). */
export interface Server {
  readonly manager: Manager;
  readonly ipcDir: IpcDir;
  readonly httpAddress: AddressInfo | undefined;
  readonly adminAddress: AddressInfo | undefined;
  /** "unix:/path" or "host:port" of the FastCGI listener. */
  readonly fastcgiAddress: string | undefined;
  /** The configuration requests are routed by now. */
  readonly config: Config;
  /** What an operator wants to see in the "fcgipm ready" line: bound addresses, sources. */
  readonly facts: Record<string, string | number>;
  /**
   * SIGHUP: a new generation of workers; with a config, routes and pool settings change too.
   * Listen addresses and the IPC dir are kept (a change is logged: restart to apply it).
   */
  reload(config?: Config): number;
  /**
   * SIGUSR1: the log file and the access log are opened again by name (logrotate renamed
   * the old ones). A no-op for what goes to stdout.
   */
  reopenLogs(): void;
  /** Stops the front ends, drains, stops the workers; the access log is flushed and closed last. */
  close(drainTimeoutMs?: number): Promise<void>;
}

function tcp(target: ListenTarget, what: string): { host: string; port: number } {
  if (target.kind !== 'tcp') throw new InvalidArgumentError(`listen.${what}: takes HOST:PORT, not a Unix socket`);
  return { host: target.host, port: target.port };
}

function describeTarget(t: ListenTarget | undefined): string {
  if (!t) return 'off';
  return t.kind === 'unix' ? `unix:${t.path}` : `${t.host}:${t.port}`;
}

/** What the server is given besides its Config. */
export interface ServerOptions {
  /** The file the logger writes to, when not stdout: reopened by reopenLogs(). */
  readonly logFile?: LogFile;
  /** Listening descriptors from systemd socket activation, by listener. */
  readonly listenFds?: Partial<Record<ListenerName, number>>;
}

/** listen.fastcgiOwner / fastcgiGroup as ids; a name that does not exist is refused at start. */
function socketOwner(config: Config): { uid?: number; gid?: number } {
  const { fastcgiOwner, fastcgiGroup } = config.listen;
  const out: { uid?: number; gid?: number } = {};
  try {
    if (fastcgiOwner !== undefined) out.uid = lookupUser(fastcgiOwner).uid;
    if (fastcgiGroup !== undefined) out.gid = lookupGroup(fastcgiGroup);
  } catch (err) {
    throw new InvalidArgumentError(`listen.fastcgiOwner / fastcgiGroup: ${err instanceof Error ? err.message : String(err)}`);
  }
  return out;
}

/** The admin token, read now (status/admin-token.ts); refuses a listener off loopback without one (config/admin-exposure.ts). */
function adminTokenOf(config: Config, activated: boolean): Buffer | undefined {
  const { admin, adminTokenFile } = config.listen;
  const token = adminTokenFile !== undefined ? readAdminToken(adminTokenFile) : undefined;
  if (admin?.kind === 'tcp' && !activated) checkAdminExposure(admin.host, admin.port, token !== undefined);
  return token;
}

export async function startServer(initial: Config, logger: Logger, options: ServerOptions = {}): Promise<Server> {
  let config = initial;
  // Every class that could never start (its user unknown, root workers not allowed), all of
  // them at once and before anything runs: what check-config reports for the same file.
  refuseUnstartableClasses(config);
  // An admin listener anyone on the network could read is refused before anything runs.
  const adminToken = adminTokenOf(config, options.listenFds?.admin !== undefined);
  // Opened first: a path that cannot be written stops the start-up before anything runs.
  const accessLog = config.accessLog !== undefined ? new AccessLog({ destination: config.accessLog, format: config.accessLogFormat ?? 'combined', logger }) : undefined;
  const ipcDir = new IpcDir({ dir: config.ipcDir });
  ipcDir.prepare();
  reclaimIpcDir(ipcDir, logger);
  const manager = new Manager({ ipcDir, logger }, { maxProcesses: config.maxProcesses });
  const pools = new PoolRegistry(manager);
  // The front ends ask this which pool and script a request goes to; a reload swaps its router.
  const resolver = new ConfigResolver(new Router(config), pools);
  // Apps and wrappers named in the config get their pools now (refuseUnstartableClasses above
  // has checked each can start), so minProcesses are started before anything listens.
  const failed = resolver.makeConfiguredPools();
  if (failed) {
    ipcDir.cleanup();
    await accessLog?.close();
    throw failed;
  }

  const anyHandoff = (c: Config): boolean => c.sites.some((site) => site.apps.some((app) => app.handoff));

  let http: HttpFrontend | undefined;
  let handoff: HandoffFrontend | undefined;
  let fastcgi: FcgiServer | undefined;
  let admin: AdminServer | undefined;
  let httpAddress: AddressInfo | undefined;
  let adminAddress: AddressInfo | undefined;
  const fds = options.listenFds ?? {};
  // A descriptor systemd passed stands for its listener, whatever the address says.
  const http0 = fds.http !== undefined ? { host: '', port: 0, fd: fds.http } : config.listen.http && tcp(config.listen.http, 'http');
  const admin0 = fds.admin !== undefined ? { host: '', port: 0, fd: fds.admin } : config.listen.admin && tcp(config.listen.admin, 'admin');
  const fastcgi0 = fds.fastcgi !== undefined ? { kind: 'tcp' as const, host: '', port: 0 } : config.listen.fastcgi;
  const where = (fd: number | undefined, target: ListenTarget | undefined): ListenTarget | string => (fd !== undefined ? `fd ${fd}` : target ?? 'off');
  try {
    if (admin0) {
      admin = new AdminServer({ ...admin0, manager, logger, ...(adminToken ? { token: adminToken } : {}) });
      const a = admin;
      adminAddress = await listenNamed('admin', where(fds.admin, config.listen.admin), () => a.listen());
      // A socket systemd bound is known by its address only now.
      if (fds.admin !== undefined) checkAdminExposure(adminAddress.address, adminAddress.port, adminToken !== undefined);
    }
    if (http0) {
      http = new HttpFrontend({
        ...http0,
        logger,
        serverSoftware: `fcgipm/${VERSION}`,
        resolve: (req, rawPath) => resolver.http(req.headers, rawPath),
        reusePort: config.listen.reusePort,
        accessLog,
        ...(config.clientHeaderTimeoutMs !== undefined ? { headerTimeoutMs: config.clientHeaderTimeoutMs } : {}),
        ...(config.clientBodyTimeoutMs !== undefined ? { bodyTimeoutMs: config.clientBodyTimeoutMs } : {}),
      });
      const front = http;
      if (anyHandoff(config)) {
        handoff = new HandoffFrontend({
          ...http0,
          logger,
          serverSoftware: `fcgipm/${VERSION}`,
          decide: (head) => resolver.handoff(head),
          reusePort: config.listen.reusePort,
          http: (socket) => front.acceptConnection(socket),
          ...(config.clientHeaderTimeoutMs !== undefined ? { headTimeoutMs: config.clientHeaderTimeoutMs } : {}),
        });
        const h = handoff;
        httpAddress = await listenNamed('http', where(fds.http, config.listen.http), () => h.listen());
      } else {
        httpAddress = await listenNamed('http', where(fds.http, config.listen.http), () => front.listen());
      }
    }
    if (fastcgi0) {
      const owner = socketOwner(config);
      fastcgi = new FcgiServer({
        listen: fastcgi0,
        mode: config.listen.fastcgiMode,
        ...owner,
        ...(fds.fastcgi !== undefined ? { fd: fds.fastcgi } : {}),
        // FCGI_GET_VALUES: what a web server may open at most, as php-fpm answers with its
        // max_children — here the global process cap every request ends up waiting for.
        maxConns: config.maxProcesses,
        maxReqs: config.maxProcesses,
        logger,
        handler: (req, res) => forwardFastcgi(req, res, { resolve: (params) => resolver.fastcgi(params), logger, accessLog, passProxy: config.listen.fastcgiPassProxy === true }),
      });
      const f = fastcgi;
      await listenNamed('fastcgi', where(fds.fastcgi, config.listen.fastcgi), () => f.listen());
    }
  } catch (err) {
    await Promise.all([admin?.close(), handoff?.close(), http?.close(), fastcgi?.close(), accessLog?.close()]);
    ipcDir.cleanup();
    throw err;
  }
  manager.start();
  if (config.listen.reusePort && queuedConnectionsMigrate() === false) {
    logger.warn(
      'listen.reusePort: net.ipv4.tcp_migrate_req is 0, so connections queued on an instance being stopped are reset; set it to 1 (sysctl -w net.ipv4.tcp_migrate_req=1) for upgrades that lose nothing',
    );
  }

  let closing: Promise<void> | undefined;
  /** Pools a reload took out of service, still draining. */
  const retiring = new Set<Promise<void>>();
  return {
    manager,
    ipcDir,
    httpAddress,
    adminAddress,
    fastcgiAddress: fastcgi?.address,
    get config() {
      return config;
    },
    facts: {
      config: config.source,
      http: httpAddress ? `${httpAddress.address}:${httpAddress.port}` : 'off',
      fastcgi: fastcgi?.address ?? 'off',
      admin: adminAddress ? `${adminAddress.address}:${adminAddress.port}` : 'off',
      accessLog: config.accessLog ?? 'off',
      sites: config.sites.length,
      ipcDir: ipcDir.dir,
    },
    reload(next?: Config) {
      let generation: number | undefined;
      if (next) {
        // A configuration with a class that could never start is not swapped in.
        refuseUnstartableClasses(next);
        for (const key of ['http', 'fastcgi', 'admin'] as const) {
          if (describeTarget(next.listen[key]) !== describeTarget(config.listen[key])) {
            logger.warn({ key: `listen.${key}`, now: describeTarget(config.listen[key]), configured: describeTarget(next.listen[key]) }, 'listen address changed; restart fcgipm to apply it');
          }
        }
        if (next.listen.adminTokenFile !== config.listen.adminTokenFile) {
          logger.warn({ key: 'listen.adminTokenFile', now: config.listen.adminTokenFile ?? 'none', configured: next.listen.adminTokenFile ?? 'none' }, 'admin token file changed; restart fcgipm to apply it');
        }
        if (next.ipcDir !== config.ipcDir) logger.warn({ now: config.ipcDir, configured: next.ipcDir }, 'ipcDir changed; restart fcgipm to apply it');
        for (const key of ['accessLog', 'accessLogFormat'] as const) {
          if (next[key] !== config[key]) logger.warn({ key, now: config[key] ?? 'off', configured: next[key] ?? 'off' }, `${key} changed; restart fcgipm to apply it`);
        }
        config = next;
        // A new generation, in which the new config's apps and wrappers get their pools at once
        // (minProcesses warm); pools the old config named and the new one does not are retired
        // gracefully.
        const orphaned = resolver.swap(new Router(next), () => (generation = manager.reload()));
        for (const pool of orphaned) {
          const done = manager.retirePool(pool, config.drainTimeoutMs);
          retiring.add(done);
          void done.finally(() => retiring.delete(done));
        }
      }
      return generation ?? manager.reload();
    },
    reopenLogs() {
      options.logFile?.reopen();
      accessLog?.reopen();
    },
    close(drainTimeoutMs = config.drainTimeoutMs) {
      closing ??= (async () => {
        admin?.markStopping();
        // The listeners stop accepting first; what they already accepted is served by live
        // pools (a request that arrived a moment before the stop must not get 503), then the
        // workers are stopped with what is left of the drain time.
        const started = Date.now();
        const fronts = Promise.all([handoff?.close(), http?.close(), fastcgi?.close()]);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([fronts, new Promise((r) => (timer = setTimeout(r, drainTimeoutMs)))]);
        clearTimeout(timer);
        await manager.close(Math.max(0, drainTimeoutMs - (Date.now() - started)));
        await Promise.all(retiring);
        // What is still connected once the drain time is over (a client sending its head a byte
        // a minute, a response's last bytes to a client that stopped reading) does not hold
        // the stop: it is reset.
        await Promise.race([fronts, new Promise((r) => (timer = setTimeout(r, Math.max(0, drainTimeoutMs - (Date.now() - started)))))]);
        clearTimeout(timer);
        http?.destroy();
        handoff?.destroy();
        void fastcgi?.destroy();
        await fronts;
        await admin?.close();
        pools.close();
        ipcDir.cleanup();
        // Last: every request answered above has its line written before fcgipm exits.
        await accessLog?.close();
      })();
      return closing;
    },
  };
}
