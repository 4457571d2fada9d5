/**
 * src/spawn: processes and sockets — the IPC socket directory, worker processes with their
 * listening socket on fd 0, output capture, descriptor hygiene, the native addon (listening
 * sockets libuv never accepts on, SCM_RIGHTS descriptor passing) and the exec helper
 * (rlimits, nice, umask, groups, uid/gid applied between fork and exec).
 */
export { IpcDir, MAX_SOCKET_PATH_BYTES, type IpcDirOptions } from './ipc-dir';
export {
  DEFAULT_BACKLOG,
  DEFAULT_PATH,
  SOCKET_MODE,
  STDIO_DRAIN_MS,
  WorkerProcess,
  workerEnvironment,
  type WorkerExit,
  type WorkerProcessEvents,
  type WorkerSpawnOptions,
} from './worker-process';
export {
  EXEC_HELPER_EXEC_FAILED,
  EXEC_HELPER_PATH,
  EXEC_HELPER_PREFIX,
  EXEC_HELPER_SETUP_FAILED,
  execHelperArgs,
  type RlimitValue,
  type WorkerIdentity,
  type WorkerLimits,
} from './exec-helper';
export { MAX_LINE_BYTES, OutputLines, captureOutput, renderBytes, type OutputLinesOptions, type OutputStreamName } from './output-lines';
export { markInheritedDescriptorsCloexec, systemdListenFds, type FdHygieneOptions } from './fd-hygiene';
export {
  NATIVE_ADDON_PATH,
  closeFd,
  isNativeErrno,
  listenUnix,
  markInheritedCloexec,
  recvFd,
  sendFd,
  setCloexec,
  socketPair,
  type ReceivedFd,
} from './native';
