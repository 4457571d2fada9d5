import fs from 'node:fs';
import path from 'node:path';
import { silentLogger } from '../../src/log';
import { classKey } from '../../src/pm/class-key';
import { Manager } from '../../src/pm/manager';
import { IpcDir } from '../../src/spawn/ipc-dir';
import { fixture, tempDir } from '../helpers/fixtures';

describe('process classes (mod_fcgid: inode + device, command line, uid, gid, vhost)', () => {
  let dir: string;
  let app: string;
  beforeEach(() => {
    dir = tempDir();
    app = path.join(dir, 'app.fcgi');
    fs.copyFileSync(fixture('hello'), app);
    fs.chmodSync(app, 0o755);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const id = (over: Partial<Parameters<typeof classKey>[0]> = {}) => ({
    command: app,
    args: [] as string[],
    uid: undefined,
    gid: undefined,
    vhost: '',
    ...over,
  });

  test('the same binary, command line, user and vhost is one class', () => {
    expect(classKey(id())).toBe(classKey(id()));
  });

  test('arguments, user, group and vhost each make another class', () => {
    const base = classKey(id());
    expect(classKey(id({ args: ['-x'] }))).not.toBe(base);
    expect(classKey(id({ uid: 33 }))).not.toBe(base);
    expect(classKey(id({ gid: 33 }))).not.toBe(base);
    expect(classKey(id({ vhost: 'example.org' }))).not.toBe(base);
  });

  test('a binary deployed by rename is a new class; rewriting in place is not', () => {
    const before = classKey(id());
    fs.appendFileSync(app, '');
    expect(classKey(id())).toBe(before);
    fs.copyFileSync(fixture('hello'), `${app}.new`);
    fs.renameSync(`${app}.new`, app);
    expect(classKey(id())).not.toBe(before);
  });

  test('a missing executable is a SpawnError naming it', () => {
    expect(() => classKey(id({ command: path.join(dir, 'nope') }))).toThrow(/cannot run .*nope: ENOENT/);
  });

  test('the manager gives each class its own pool, the same pool for the same class', async () => {
    const ipcDir = new IpcDir({ dir: path.join(dir, 'sock') });
    ipcDir.prepare();
    const manager = new Manager({ ipcDir, logger: silentLogger() });
    const a = manager.poolForClass({ command: app, allowRoot: true });
    expect(manager.poolForClass({ command: app, allowRoot: true })).toBe(a);
    const vhost = manager.poolForClass({ command: app, allowRoot: true }, 'example.org');
    expect(vhost).not.toBe(a);
    expect(vhost.name).toBe('example.org:app.fcgi');
    fs.copyFileSync(fixture('hello'), `${app}.new`);
    fs.renameSync(`${app}.new`, app);
    const redeployed = manager.poolForClass({ command: app, allowRoot: true });
    expect(redeployed).not.toBe(a);
    expect(redeployed.name).toBe('app.fcgi#2');
    await manager.close(1000);
    ipcDir.cleanup();
  });
});
