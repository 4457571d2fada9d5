/** fcgipm as a library: the pieces `fcgipm run` is built from. */
export * from './errors';
export { createLogger, silentLogger, type Logger } from './log';
export { VERSION } from './version';
export { Connection, type ConnectionOptions } from './client/connection';
export type { FcgiRequest, RequestBody, ResponseHandler, EndRequest } from './client/request';
export { Pool, type DispatchHandle, type PoolDeps, type PoolHost, type PoolSnapshot, type ProcessSnapshot, type RequestInfo } from './pm/pool';
export { REAL_CLOCK, type Clock, type TimerHandle } from './pm/clock';
export { REAL_LAUNCHER, type ChildProcess, type WorkerConnection, type WorkerLauncher } from './pm/worker-launcher';
export { Manager, MANAGER_DEFAULTS, type ManagerEvents, type ManagerOptions, type ManagerSnapshot } from './pm/manager';
export { resolveScalingOptions, SCALING_DEFAULTS, type ScalingMode, type ScalingOptions } from './pm/policy/options';
export { AdminServer, type AdminServerOptions } from './status/admin-server';
export { resolvePoolOptions, POOL_DEFAULTS, type PoolOptions, type PoolOptionsInput } from './pm/pool-options';
export { HttpFrontend, HTTP_DEFAULTS, type HttpFrontendOptions } from './frontend/http-server';
export type { Route, Resolution, SiteResolver } from './frontend/resolution';
export { startRunServer, type RunServer, type RunServerOptions } from './cli/run-server';
export { IpcDir } from './spawn/ipc-dir';
export { WorkerProcess, type WorkerExit, type WorkerSpawnOptions } from './spawn/worker-process';
export { startServer, type Server } from './cli/serve-server';
export { parseConfig, loadConfigFile } from './config/load';
export { importApache, type ImportResult } from './config/import-apache';
export type { Config, SiteConfig, AppRoute, Wrapper, AuthRule, PoolSettings, ListenTarget } from './config/types';
export { Router, type RouteResult } from './routing/router';
export type { ProcessClass } from './pm/process-class';
export { FcgiServer, type FcgiServerOptions, type FcgiServerRequest, type FcgiServerResponse, type FcgiHandler } from './frontend/fcgi-server';
export { handOff, type HandoffSession } from './client/handoff';
/** For app authors: serve handed-off client connections with an ordinary Node request handler. */
export { serveHandoff, type HandoffWorker } from './worker/handoff-worker';
