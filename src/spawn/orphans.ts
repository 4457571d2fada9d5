import fs from 'node:fs';
import type { Logger } from '../log';
import type { IpcDir } from './ipc-dir';

export interface SocketHolder {
  readonly pid: number;
  readonly socketPath: string;
}

/** Inodes of the listening Unix sockets bound at these paths, from /proc/net/unix. */
function inodesByPath(paths: ReadonlySet<string>, procRoot: string): Map<string, string> {
  const byInode = new Map<string, string>();
  let table: string;
  try {
    table = fs.readFileSync(`${procRoot}/net/unix`, 'utf8');
  } catch {
    return byInode;
  }
  // "Num RefCount Protocol Flags Type St Inode Path"
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const inode = fields[6];
    const p = fields[7];
    if (inode !== undefined && p !== undefined && paths.has(p)) byInode.set(inode, p);
  }
  return byInode;
}

/**
 * Processes whose fd 0 is the listening socket bound at one of `socketPaths`: workers whose
 * manager is gone (killed with SIGKILL, say — workers run in sessions of their own so that a
 * terminal's Ctrl-C reaches only the manager, which then drains them). Unreadable /proc
 * entries (other users', when not root) are skipped.
 */
export function findSocketHolders(socketPaths: readonly string[], procRoot = '/proc'): SocketHolder[] {
  if (socketPaths.length === 0) return [];
  const byInode = inodesByPath(new Set(socketPaths), procRoot);
  if (byInode.size === 0) return [];
  const holders: SocketHolder[] = [];
  for (const entry of fs.readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    let link: string;
    try {
      link = fs.readlinkSync(`${procRoot}/${entry}/fd/0`);
    } catch {
      continue;
    }
    const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
    const socketPath = inode !== undefined ? byInode.get(inode) : undefined;
    if (socketPath !== undefined) holders.push({ pid: Number(entry), socketPath });
  }
  return holders;
}

/** SIGTERM → SIGKILL grace for orphaned workers. */
const ORPHAN_GRACE_MS = 5_000;

/**
 * At start-up: stops the workers of managers that are gone (SIGTERM, SIGKILL after a grace)
 * and removes their sockets, so a crash of fcgipm leaves nothing running or listening behind
 * once it is restarted (mod_fcgid leaves stale sockets on every restart).
 */
export function reclaimIpcDir(ipcDir: IpcDir, logger: Logger): { stopped: number[]; removed: string[] } {
  const stopped: number[] = [];
  for (const holder of findSocketHolders(ipcDir.staleSockets())) {
    try {
      process.kill(holder.pid, 'SIGTERM');
    } catch {
      continue;
    }
    stopped.push(holder.pid);
    logger.warn({ pid: holder.pid, socket: holder.socketPath }, 'stopping a worker whose manager is gone');
    setTimeout(() => {
      try {
        process.kill(holder.pid, 'SIGKILL');
      } catch {
        // gone, as it should be
      }
    }, ORPHAN_GRACE_MS).unref();
  }
  const removed = ipcDir.removeStale();
  if (removed.length > 0) logger.info({ removed: removed.length, dir: ipcDir.dir }, 'removed sockets left by managers that are gone');
  return { stopped, removed };
}
