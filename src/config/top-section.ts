/**
 * The top level of the configuration: process-wide keys, the listen section, defaults, the
 * commands table (FcgidCmdOptions) and the sites; then the checks that need all of them.
 */
import path from 'node:path';
import { isMap, isScalar } from 'yaml';
import { commandProblem } from './command-check';
import { checkClasses, type ClassRef, type Seen } from './cross-checks';
import { readPoolBlock } from './pool-section';
import { readSites } from './sites';
import type { Config, PoolSettings } from './types';
import { readAccessLog, readBoolean, readDuration, readEnum, readFilePath, readInteger, readListen, readString, readUmask } from './value-readers';
import type { Entries, Entry, YamlSource } from './yaml-source';

export function readConfig(src: YamlSource, root: unknown): Config {
  const classes: ClassRef[] = [];
  const rootNode = src.deref(root);
  const top = src.readMap(rootNode, '', 'top', 'the configuration') ?? new Map<string, Entry>();

  const ipcDir = readFilePath(src, src.need(top, 'top', 'ipcDir', ''));
  const maxProcesses = readInteger(src, src.need(top, 'top', 'maxProcesses', ''));
  const drainTimeoutMs = readDuration(src, src.need(top, 'top', 'drainTimeout', ''));
  const clientHeaderTimeoutMs = readDuration(src, src.need(top, 'top', 'clientHeaderTimeout', ''));
  const clientBodyTimeoutMs = readDuration(src, src.need(top, 'top', 'clientBodyTimeout', ''));
  const logLevel = readEnum(src, src.need(top, 'top', 'logLevel', ''));
  const logFileEntry = src.entry(top, 'top', 'logFile', '');
  const logFile = logFileEntry && readFilePath(src, logFileEntry);
  const pidFileEntry = src.entry(top, 'top', 'pidFile', '');
  const pidFile = pidFileEntry && readFilePath(src, pidFileEntry);
  const accessLog = readAccessLog(src, src.need(top, 'top', 'accessLog', ''));
  const accessLogFormat = readEnum(src, src.need(top, 'top', 'accessLogFormat', '')) as Config['accessLogFormat'];

  const listenEntry = top.get('listen');
  const listenMap = (listenEntry ? src.readMap(listenEntry.node, 'listen', 'listen', 'the listen addresses') : undefined) ?? new Map<string, Entry>();
  const listen = {
    http: readListen(src, src.need(listenMap, 'listen', 'http', 'listen')),
    fastcgi: readListen(src, src.need(listenMap, 'listen', 'fastcgi', 'listen')),
    admin: readListen(src, src.need(listenMap, 'listen', 'admin', 'listen')),
    reusePort: readBoolean(src, src.need(listenMap, 'listen', 'reusePort', 'listen')) ?? false,
    fastcgiMode: readUmask(src, src.need(listenMap, 'listen', 'fastcgiMode', 'listen')) ?? 0o660,
    fastcgiPassProxy: readBoolean(src, src.need(listenMap, 'listen', 'fastcgiPassProxy', 'listen')) ?? false,
    ...readSocketOwner(src, listenMap),
    ...readAdminTokenFile(src, listenMap),
  };
  // What serve cannot listen on is refused here, so that check-config refuses it too.
  if (listen.http?.kind === 'unix') src.problem(listenMap.get('http')?.node, 'listen.http', 'the HTTP listener takes HOST:PORT, not a Unix socket (a Unix socket is for listen.fastcgi)');
  if (listen.admin?.kind === 'unix') src.problem(listenMap.get('admin')?.node, 'listen.admin', 'the status listener takes HOST:PORT, not a Unix socket');

  const defaultsEntry = top.get('defaults');
  const defaults = defaultsEntry ? readPoolBlock(src, defaultsEntry.node, 'defaults') : {};
  const commandsEntry = top.get('commands');
  const commands = commandsEntry ? readCommands(src, commandsEntry) : {};
  const sitesEntry = top.get('sites');
  const sites = sitesEntry ? readSites(src, sitesEntry, classes) : [];

  const config: Config = {
    source: src.file,
    ipcDir: ipcDir ?? '',
    maxProcesses: maxProcesses ?? 0,
    listen,
    defaults,
    commands,
    sites,
    drainTimeoutMs: drainTimeoutMs ?? 0,
    ...(clientHeaderTimeoutMs !== undefined ? { clientHeaderTimeoutMs } : {}),
    ...(clientBodyTimeoutMs !== undefined ? { clientBodyTimeoutMs } : {}),
    logLevel: logLevel ?? '',
    ...(logFile !== undefined ? { logFile } : {}),
    ...(pidFile !== undefined ? { pidFile } : {}),
    accessLog,
    accessLogFormat: accessLogFormat ?? 'combined',
  };
  checkClasses(src, classes, config);
  return config;
}

/** listen.fastcgiOwner and listen.fastcgiGroup, when written; names are resolved at start. */
function readSocketOwner(src: YamlSource, listenMap: Entries): { fastcgiOwner?: string; fastcgiGroup?: string } {
  const owner = src.entry(listenMap, 'listen', 'fastcgiOwner', 'listen');
  const group = src.entry(listenMap, 'listen', 'fastcgiGroup', 'listen');
  const fastcgiOwner = owner && readString(src, owner);
  const fastcgiGroup = group && readString(src, group);
  return { ...(fastcgiOwner ? { fastcgiOwner } : {}), ...(fastcgiGroup ? { fastcgiGroup } : {}) };
}

/** listen.adminTokenFile, when written; the file is read (and its mode checked) at start. */
function readAdminTokenFile(src: YamlSource, listenMap: Entries): { adminTokenFile?: string } {
  const e = src.entry(listenMap, 'listen', 'adminTokenFile', 'listen');
  const file = e && readFilePath(src, e);
  return file !== undefined ? { adminTokenFile: file } : {};
}

/** FcgidCmdOptions: exact command path → settings. Paths are resolved so lookups by command match. */
function readCommands(src: YamlSource, e: Entry): Record<string, PoolSettings> {
  const out: Record<string, PoolSettings> = {};
  if (!isMap(e.node)) {
    src.problem(e.node, 'commands', `expected a mapping of command path → settings, got ${src.describe(e.node)}`);
    return out;
  }
  const seen = new Map<string, Seen>();
  for (const pair of src.pairsOf(e.node)) {
    const keyNode = src.deref(pair.key);
    const key: unknown = keyNode && isScalar(keyNode) ? keyNode.value : undefined;
    if (typeof key !== 'string' || key.trim() === '') {
      src.problem(keyNode ?? e.node, 'commands', `expected a command path as the key, got ${src.describe(keyNode)}`);
      continue;
    }
    const p = `commands[${JSON.stringify(key)}]`;
    const full = path.resolve(src.dir, key);
    const problem = commandProblem(key, full);
    if (problem !== undefined) src.problem(keyNode, p, problem);
    const before = seen.get(full);
    const line = src.where(keyNode).line;
    if (before) src.problem(keyNode, p, `command ${full} is also configured at ${before.path} (line ${before.line}); give it once`);
    else seen.set(full, { path: p, line });
    const value = src.deref(pair.value);
    out[full] = value === null ? {} : readPoolBlock(src, value, p);
  }
  return out;
}
