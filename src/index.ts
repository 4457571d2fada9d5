/** fcgipm as a library: the pieces `fcgipm run` is built from. */
export * from './errors';
export { createLogger, silentLogger, type Logger } from './log';
export { VERSION } from './version';
export { Connection, type ConnectionOptions } from './client/connection';
export type { FcgiRequest, RequestBody, ResponseHandler, EndRequest } from './client/request';
export { Pool, type DispatchHandle, type PoolSnapshot, type ProcessSnapshot, type RequestInfo } from './pm/pool';
export { resolvePoolOptions, POOL_DEFAULTS, type PoolOptions, type PoolOptionsInput } from './pm/pool-options';
export { HttpFrontend, HTTP_DEFAULTS, type HttpFrontendOptions, type Route } from './frontend/http-server';
export { startRunServer, type RunServer, type RunServerOptions } from './cli/run-server';
export { IpcDir } from './spawn/ipc-dir';
export { WorkerProcess, type WorkerExit, type WorkerSpawnOptions } from './spawn/worker-process';
