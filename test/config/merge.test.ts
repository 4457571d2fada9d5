import { classSettings, commandSettings, mergePoolSettings } from '../../src/config/merge';
import type { AppRoute, Config, PoolSettings, SiteConfig } from '../../src/config/types';

function site(pool: PoolSettings): SiteConfig {
  return {
    hosts: ['*'],
    documentRoot: undefined,
    handlers: [],
    wrappers: [],
    directoryIndex: [],
    static: true,
    followSymlinks: 'owner-match',
    scriptRoots: [],
    apps: [],
    auth: [],
    passHeaders: [],
    maxRequestBodyBytes: 1024,
    pool,
    origin: 'test',
  };
}

function config(defaults: PoolSettings, commands: Record<string, PoolSettings>): Config {
  return {
    source: 'test',
    ipcDir: '/tmp/x',
    maxProcesses: 100,
    listen: { http: undefined, fastcgi: undefined, admin: undefined, reusePort: false, fastcgiMode: 0o660 },
    defaults,
    commands,
    sites: [],
    drainTimeoutMs: 1000,
    logLevel: 'info',
  };
}

describe('mergePoolSettings', () => {
  test('later layers win field by field; undefined never overrides', () => {
    const merged = mergePoolSettings(
      { maxProcesses: 10, idleTimeoutMs: 1000, mode: 'ondemand' },
      { maxProcesses: 5, lifetimeMs: 2000 },
      undefined,
      { maxProcesses: undefined, mode: 'static' },
    );
    expect(merged).toEqual({ maxProcesses: 5, idleTimeoutMs: 1000, lifetimeMs: 2000, mode: 'static' });
    expect(Object.keys(merged)).not.toContain('minProcesses');
  });

  test('env and rlimits merge key by key with the same precedence', () => {
    const merged = mergePoolSettings(
      { env: { A: 'low', B: 'low' }, rlimits: { nofile: 1024, core: 0 } },
      { env: { B: 'high', C: 'high' }, rlimits: { core: 'unlimited' } },
    );
    expect(merged.env).toEqual({ A: 'low', B: 'high', C: 'high' });
    expect(merged.rlimits).toEqual({ nofile: 1024, core: 'unlimited' });
  });

  test('no layer with env or rlimits leaves them out; nothing at all gives {}', () => {
    expect(mergePoolSettings({ maxProcesses: 1 }, {})).toEqual({ maxProcesses: 1 });
    expect(mergePoolSettings()).toEqual({});
  });

  test('fields that are not settings (an app route passed whole) are ignored', () => {
    const app: AppRoute = { prefix: '/app', command: '/bin/app', args: ['-x'], handoff: true, origin: 'f:1', maxQueue: 7 };
    expect(mergePoolSettings(app)).toEqual({ maxQueue: 7 });
  });

  test('a "__proto__" env name stays an ordinary variable', () => {
    const env = JSON.parse('{"__proto__": "x", "PATH": "/bin"}') as Record<string, string>;
    const merged = mergePoolSettings({ env });
    expect(Object.getPrototypeOf(merged.env)).toBe(Object.prototype);
    expect(Object.keys(merged.env ?? {})).toEqual(['__proto__', 'PATH']);
  });
});

describe('classSettings (app > commands[command] > site.pool > defaults)', () => {
  const cfg = config(
    { maxProcesses: 10, idleTimeoutMs: 1, env: { A: 'defaults', B: 'defaults', C: 'defaults', D: 'defaults' } },
    { '/bin/app': { maxProcesses: 6, ioTimeoutMs: 3, env: { C: 'command', D: 'command' } } },
  );
  const s = site({ maxProcesses: 8, lifetimeMs: 2, env: { B: 'site', C: 'site', D: 'site' } });

  test('every layer contributes what the ones above leave unset', () => {
    expect(classSettings(cfg, s, '/bin/app', { maxProcesses: 4, env: { D: 'app' } })).toEqual({
      maxProcesses: 4,
      idleTimeoutMs: 1,
      lifetimeMs: 2,
      ioTimeoutMs: 3,
      env: { A: 'defaults', B: 'site', C: 'command', D: 'app' },
    });
  });

  test('FcgidCmdOptions applies to the exact command path only', () => {
    expect(classSettings(cfg, s, '/bin/other', undefined)).toEqual({
      maxProcesses: 8,
      idleTimeoutMs: 1,
      lifetimeMs: 2,
      env: { A: 'defaults', B: 'site', C: 'site', D: 'site' },
    });
  });

  test('commands are looked up by own key only', () => {
    expect(commandSettings(cfg, 'constructor')).toBeUndefined();
    expect(commandSettings(cfg, 'toString')).toBeUndefined();
    expect(commandSettings(cfg, '/bin/app')).toEqual({ maxProcesses: 6, ioTimeoutMs: 3, env: { C: 'command', D: 'command' } });
  });
});
