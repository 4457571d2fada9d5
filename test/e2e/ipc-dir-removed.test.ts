/**
 * The IPC socket directory removed while fcgipm serves (an admin's rm -rf, systemd-tmpfiles
 * cleaning /run): the manager makes it again before the next spawn, and a request that meets
 * workers whose sockets are gone is replayed on a new worker, not answered 502.
 * (The same fault under load, with figures: test/reliability/manager-faults.test.ts.)
 */
import fs from 'node:fs';
import { httpRequest } from '../helpers/http-client';
import { closeAll, serve } from '../helpers/serve';

afterEach(closeAll);

test('rm -rf of the IPC dir: the next request is 200 though every running worker is unreachable, the dir is back with mode 0700, a warning names it', async () => {
  // nokeep: a connection per request, so each request looks the socket up by its path.
  const s = await serve('nokeep', { minProcesses: 4, maxProcesses: 4 });
  await s.waitForIdle(4);
  fs.rmSync(s.ipcDir, { recursive: true, force: true });

  // Four idle workers, none reachable: more than the three attempts a request gets.
  const r = await httpRequest(`${s.base}/`);
  expect(r.status).toBe(200);
  expect(fs.statSync(s.ipcDir).mode & 0o777).toBe(0o700);
  const warning = await s.waitForLine((l) => l.msg === 'IPC socket directory was removed; made it again');
  expect(warning.dir).toBe(s.ipcDir);
  expect(warning.level).toBe(40);

  const statuses = await Promise.all(Array.from({ length: 16 }, () => httpRequest(`${s.base}/`).then((x) => x.status)));
  expect(statuses).toEqual(Array.from({ length: 16 }, () => 200));
  // The workers serving now have their sockets in the directory made again.
  const pids = new Set(s.server.pool.snapshot().processes.map((p) => p.pid));
  expect(pids.size).toBeGreaterThanOrEqual(1);
  expect(fs.readdirSync(s.ipcDir).length).toBe(pids.size);
});
