import fs from 'node:fs';
import path from 'node:path';
import { FcgipmError } from '../../src/errors';
import { silentLogger } from '../../src/log';
import { Manager } from '../../src/pm/manager';
import { PoolRegistry } from '../../src/pm/pool-registry';
import type { ProcessClass } from '../../src/pm/process-class';
import { IpcDir } from '../../src/spawn/ipc-dir';
import { fixture, tempDir } from '../helpers/fixtures';

/** A class as the routing layer builds one: the same object for every request it routes there. */
function processClass(command: string, over: Partial<ProcessClass> = {}): ProcessClass {
  return { command, args: [], vhost: '', handoff: false, variant: '', poolInput: () => ({ command, allowRoot: true }), ...over };
}

describe('pool registry: a process class to its pool, made once', () => {
  let dir: string;
  let app: string;
  let ipcDir: IpcDir;
  let manager: Manager;
  let registry: PoolRegistry;
  beforeEach(() => {
    dir = tempDir();
    fs.mkdirSync(path.join(dir, 'bin'));
    app = path.join(dir, 'bin', 'app.fcgi');
    fs.copyFileSync(fixture('hello'), app);
    fs.chmodSync(app, 0o755);
    ipcDir = new IpcDir({ dir: path.join(dir, 'sock') });
    ipcDir.prepare();
    // Never started: pools are made, no worker is spawned.
    manager = new Manager({ ipcDir, logger: silentLogger() });
    registry = new PoolRegistry(manager);
  });
  afterEach(async () => {
    registry.close();
    await manager.close(1000);
    ipcDir.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const pool = (spec: ProcessClass) => {
    const p = registry.poolFor(spec);
    if (p instanceof FcgipmError) throw p;
    return p;
  };

  test('the same class is the same pool; equal classes built apart share it; another vhost or variant is another pool', () => {
    const spec = processClass(app);
    const a = pool(spec);
    expect(pool(spec)).toBe(a);
    expect(pool(processClass(app))).toBe(a);
    expect(manager.snapshot().pools.map((p) => p.name)).toEqual(['app.fcgi']);
    expect(pool(processClass(app, { vhost: 'example.org' }))).not.toBe(a);
    expect(pool(processClass(app, { variant: '[{"maxProcesses":2},false]' }))).not.toBe(a);
    expect(manager.snapshot().pools).toHaveLength(3);
  });

  test('a checked class is trusted without a stat until its directory changes', () => {
    const spec = processClass(app);
    const a = pool(spec);
    // Renaming a directory above the watched one sends the watch no event: the command's path
    // is gone, yet the trusted class still finds its pool — it is not stat()ed per request.
    fs.renameSync(dir, `${dir}.moved`);
    try {
      expect(registry.poolFor(spec)).toBe(a);
      // A class not seen before is checked, and its command is not there.
      const fresh = registry.poolFor(processClass(app));
      expect(fresh).toBeInstanceOf(FcgipmError);
      expect((fresh as FcgipmError).httpStatus).toBe(503);
      expect((fresh as FcgipmError).message).toMatch(/cannot run .*app\.fcgi: ENOENT/);
    } finally {
      fs.renameSync(`${dir}.moved`, dir);
    }
  });

  test('a binary deployed by rename is a new pool once inotify reports it', async () => {
    const spec = processClass(app);
    const a = pool(spec);
    fs.copyFileSync(fixture('hello'), `${app}.new`);
    fs.renameSync(`${app}.new`, app);
    const started = Date.now();
    let now = registry.poolFor(spec);
    while (now === a && Date.now() - started < 2_000) {
      await new Promise((res) => setImmediate(res));
      now = registry.poolFor(spec);
    }
    expect(now).not.toBe(a);
    expect(now).not.toBeInstanceOf(FcgipmError);
  });

  test('a deleted command answers 503 naming it; a class that cannot be made is an error, not a throw', async () => {
    const spec = processClass(app);
    pool(spec);
    fs.unlinkSync(app);
    const started = Date.now();
    let now = registry.poolFor(spec);
    while (!(now instanceof FcgipmError) && Date.now() - started < 2_000) {
      await new Promise((res) => setImmediate(res));
      now = registry.poolFor(spec);
    }
    expect(now).toBeInstanceOf(FcgipmError);
    expect((now as FcgipmError).message).toMatch(/cannot run .*app\.fcgi: ENOENT/);

    fs.copyFileSync(fixture('hello'), app);
    const unknownUser = processClass(app, {
      poolInput: () => {
        throw new Error('no such user: nobody-here');
      },
    });
    const refused = registry.poolFor(unknownUser);
    expect(refused).toBeInstanceOf(FcgipmError);
    expect((refused as FcgipmError).message).toMatch(/nobody-here/);
  });

  test('peek does not make a pool; clear forgets the classes, the manager keeps the pools', () => {
    const spec = processClass(app);
    expect(registry.peek(spec)).toBeUndefined();
    expect(manager.snapshot().pools).toHaveLength(0);
    const a = pool(spec);
    expect(registry.peek(spec)).toBe(a);
    registry.clear();
    expect(registry.peek(spec)).toBeUndefined();
    // Asked again, the manager's class (same binary, command line, vhost, settings) answers.
    expect(pool(spec)).toBe(a);
  });
});
