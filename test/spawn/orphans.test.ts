import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { IpcDir } from '../../src/spawn/ipc-dir';
import { closeFd, listenUnix } from '../../src/spawn/native';
import { findSocketHolders, reclaimIpcDir } from '../../src/spawn/orphans';
import { fixture, memoryLogger, tempDir } from '../helpers/fixtures';

test('a worker whose manager is gone is stopped at start-up and its socket removed', async () => {
  const dir = tempDir();
  const ipcDir = new IpcDir({ dir: path.join(dir, 'sock') });
  ipcDir.prepare();
  // A pid that is surely gone: a process that already exited.
  const deadPid = spawnSync('true').pid;
  const socketPath = path.join(ipcDir.dir, `${deadPid}.0`);
  const fd = listenUnix(socketPath, 16, 0o600);
  const orphan = spawn(fixture('hello'), [], { stdio: [fd, 'ignore', 'ignore'], detached: true });
  closeFd(fd);
  // libfcgi catches SIGTERM and exits 0 when idle.
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    orphan.once('exit', (code, signal) => resolve({ code, signal })),
  );
  // Wait until the orphan holds the socket as its fd 0.
  for (let i = 0; i < 200 && findSocketHolders([socketPath]).length === 0; i += 1) await new Promise((r) => setTimeout(r, 5));
  expect(findSocketHolders([socketPath])).toEqual([{ pid: orphan.pid, socketPath }]);

  const { logger, lines } = memoryLogger();
  const result = reclaimIpcDir(ipcDir, logger);
  expect(result.stopped).toEqual([orphan.pid]);
  expect(result.removed).toEqual([socketPath]);
  expect(await exited).toEqual({ code: 0, signal: null });
  expect(fs.existsSync(socketPath)).toBe(false);
  expect(lines.some((l) => l.msg === 'stopping a worker whose manager is gone' && l.pid === orphan.pid)).toBe(true);
  fs.rmSync(dir, { recursive: true, force: true });
});

test("this manager's own sockets and live managers' sockets are left alone", () => {
  const dir = tempDir();
  const ipcDir = new IpcDir({ dir: path.join(dir, 'sock') });
  ipcDir.prepare();
  const mine = ipcDir.nextSocketPath();
  const live = path.join(ipcDir.dir, `${process.ppid}.0`);
  const fds = [listenUnix(mine, 4, 0o600), listenUnix(live, 4, 0o600)];
  const { logger } = memoryLogger();
  expect(reclaimIpcDir(ipcDir, logger)).toEqual({ stopped: [], removed: [] });
  expect(fs.existsSync(mine) && fs.existsSync(live)).toBe(true);
  for (const fd of fds) closeFd(fd);
  fs.rmSync(dir, { recursive: true, force: true });
});
