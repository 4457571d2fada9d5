/**
 * `fcgipm check-config` and `fcgipm import-apache` through the built CLI (bin/fcgipm.js →
 * dist/, built by `npm run build`), as an operator runs them.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/fcgipm.js');
const FIXTURES = path.join(__dirname, 'fixtures');

function fcgipm(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  if (!fs.existsSync(path.join(ROOT, 'dist/cli/config-commands.js'))) throw new Error('dist/ is not built: run npm run build');
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const asRoot = process.getuid?.() === 0;

/**
 * check-config refuses what serve would refuse as the same user; as root that includes root
 * workers. A copy of the file that allows them (allowRoot in defaults) when the test runs as
 * root, so that a valid file is valid for the user running the test.
 */
function asThisUser(file: string, text = fs.readFileSync(file, 'utf8')): string {
  if (!asRoot) return file;
  const copy = path.join(dir, `as-root-${path.basename(file)}`);
  const allowed = text.replaceAll('allowRoot: false', 'allowRoot: true');
  fs.writeFileSync(copy, /^defaults:\n/m.test(allowed) ? allowed.replace(/^defaults:\n/m, 'defaults:\n  allowRoot: true\n') : `defaults:\n  allowRoot: true\n${allowed}`);
  return copy;
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fcgipm-cli-config-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('fcgipm check-config', () => {
  test('a valid file: one OK line with the counts, exit 0', () => {
    const file = asThisUser(path.join(FIXTURES, 'full.yaml'));
    const r = fcgipm('check-config', file);
    expect(r).toEqual({ code: 0, stdout: `${file}: OK (2 sites, 2 apps, 2 wrappers)\n`, stderr: '' });
  });

  test('an invalid file: every problem as file:line:col: key: message, exit 1', () => {
    const file = path.join(FIXTURES, 'problems.yaml');
    const r = fcgipm('check-config', file);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(18);
    expect(lines[0]).toBe(`${file}:2:1: maxProcess: unknown key "maxProcess" (did you mean maxProcesses?)`);
    expect(lines).toContain(`${file}:10:3: commands["/usr/bin/php-cgj"]: command /usr/bin/php-cgj: no such file`);
    for (const line of lines) expect(line).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `));
  });

  test('a command that exists but is not executable is reported with its line', () => {
    const file = path.join(dir, 'fcgipm.yaml');
    fs.writeFileSync(path.join(dir, 'app.fcgi'), '#!/bin/sh\n', { mode: 0o644 });
    fs.writeFileSync(file, 'sites:\n  - apps:\n      - prefix: /\n        command: app.fcgi\n');
    const r = fcgipm('check-config', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${file}:4:18: sites[0].apps[0].command: command app.fcgi (${dir}/app.fcgi) is not executable (mode 0644; chmod +x it)\n`);
    fs.chmodSync(path.join(dir, 'app.fcgi'), 0o755);
    const valid = asThisUser(file);
    expect(fcgipm('check-config', valid)).toEqual({ code: 0, stdout: `${valid}: OK (1 site, 1 app, 0 wrappers)\n`, stderr: '' });
  });

  test('what serve would refuse at start is refused too: an unknown user, root workers (as root), with the line of the app', () => {
    fs.writeFileSync(path.join(dir, 'ok.fcgi'), '#!/bin/sh\n', { mode: 0o755 });
    const file = path.join(dir, 'who.yaml');
    fs.writeFileSync(file, 'sites:\n  - apps:\n      - prefix: /a\n        command: ok.fcgi\n        user: no-such-user-here\n');
    const r = fcgipm('check-config', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${file}:3: ${dir}/ok.fcgi: no such user "no-such-user-here" in /etc/passwd\n`);
    const serve = spawnSync(process.execPath, [BIN, 'serve', '--config', file, '--http', '127.0.0.1:0'], { encoding: 'utf8', timeout: 20_000 });
    expect(serve.status).toBe(1);
    expect(serve.stderr).toBe(`fcgipm: ${r.stderr}`);
    if (asRoot) {
      const rootFile = path.join(dir, 'root.yaml');
      fs.writeFileSync(rootFile, 'sites:\n  - apps:\n      - prefix: /a\n        command: ok.fcgi\n');
      const refused = fcgipm('check-config', rootFile);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe(`${rootFile}:3: pool ok.fcgi: refusing to run workers as root (fcgipm runs as root and no user is set): set a user for them (--user USER, or user: in the config) or allow root (--allow-root, or allowRoot: true)\n`);
      const served = spawnSync(process.execPath, [BIN, 'serve', '--config', rootFile, '--http', '127.0.0.1:0'], { encoding: 'utf8', timeout: 20_000 });
      expect(served.status).toBe(1);
      expect(served.stderr).toBe(`fcgipm: ${refused.stderr}`);
    }
  });

  test('an admin listener off loopback needs a token file others cannot read, as serve refuses it', () => {
    fs.writeFileSync(path.join(dir, 'ok.fcgi'), '#!/bin/sh\n', { mode: 0o755 });
    const yaml = (extra: string): string => `listen:\n  admin: 0.0.0.0:9180\n${extra}defaults:\n  allowRoot: true\nsites:\n  - apps:\n      - prefix: /a\n        command: ok.fcgi\n`;
    const open = path.join(dir, 'admin-open.yaml');
    fs.writeFileSync(open, yaml(''));
    const r = fcgipm('check-config', open);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `${open}: listen.admin: admin listener 0.0.0.0:9180 (--admin / listen.admin) is not on loopback and has no token: bind it to 127.0.0.1 or [::1], or give a token file (--admin-token-file / listen.adminTokenFile) so that every endpoint but /healthz asks for it\n`,
    );
    const serve = spawnSync(process.execPath, [BIN, 'serve', '--config', open, '--http', '127.0.0.1:0'], { encoding: 'utf8', timeout: 20_000 });
    expect(serve.status).toBe(1);
    expect(serve.stderr).toContain('admin listener 0.0.0.0:9180 (--admin / listen.admin) is not on loopback and has no token');

    const token = path.join(dir, 'admin-token');
    fs.writeFileSync(token, 'secret\n');
    fs.chmodSync(token, 0o644);
    const guarded = path.join(dir, 'admin-token.yaml');
    fs.writeFileSync(guarded, yaml('  adminTokenFile: admin-token\n'));
    const tooOpen = fcgipm('check-config', guarded);
    expect(tooOpen.code).toBe(1);
    expect(tooOpen.stderr).toContain(`permissions 0644 are too open, others can read the token; chmod 600 ${token}`);
    fs.chmodSync(token, 0o600);
    expect(fcgipm('check-config', guarded)).toEqual({ code: 0, stdout: `${guarded}: OK (1 site, 1 app, 0 wrappers)\n`, stderr: '' });
  });

  test('a YAML syntax error has its line too', () => {
    const file = path.join(dir, 'broken.yaml');
    fs.writeFileSync(file, 'sites:\n  - apps: [\n');
    const r = fcgipm('check-config', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^${file}:3:1: YAML syntax: `));
  });

  test('a missing file: exit 1 naming it', () => {
    const r = fcgipm('check-config', '/nonexistent/fcgipm.yaml');
    expect(r).toEqual({ code: 1, stdout: '', stderr: '/nonexistent/fcgipm.yaml: cannot read the configuration: no such file\n' });
  });

  test('usage errors: exit 2', () => {
    expect(fcgipm('check-config').code).toBe(2);
    expect(fcgipm('check-config').stderr).toMatch(/^fcgipm: check-config: missing FILE\.yaml\nusage: fcgipm check-config FILE\.yaml/);
    expect(fcgipm('check-config', 'a.yaml', 'b.yaml').code).toBe(2);
    expect(fcgipm('check-config', '--bogus', 'a.yaml').stderr).toMatch(/unknown option --bogus/);
    expect(fcgipm('check-config', '--help')).toMatchObject({ code: 0, stdout: expect.stringMatching(/^usage: fcgipm check-config FILE\.yaml/) });
  });
});

describe('fcgipm import-apache', () => {
  test('YAML on stdout, warnings on stderr, and the YAML passes check-config', () => {
    fs.mkdirSync(path.join(dir, 'www/example'), { recursive: true });
    for (const program of ['php-wrapper', 'auth.fcgi']) fs.writeFileSync(path.join(dir, program), '#!/bin/sh\n', { mode: 0o755 });
    const inputs = ['fcgid.conf', 'example.com.conf'].map((name) => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, fs.readFileSync(path.join(FIXTURES, name), 'utf8').replaceAll('@DIR@', dir));
      return p;
    });
    const r = fcgipm('import-apache', ...inputs);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('idleTimeout: 600 # FcgidIdleTimeout 600,');
    const warnings = r.stderr.trimEnd().split('\n');
    expect(warnings.length).toBeGreaterThan(5);
    for (const w of warnings) expect(w).toMatch(new RegExp(`^# warning: ${dir}/[a-z.]+\\.conf:\\d+: `));
    const yamlFile = asThisUser(path.join(dir, 'imported.yaml'), r.stdout);
    if (!asRoot) fs.writeFileSync(yamlFile, r.stdout);
    expect(fcgipm('check-config', yamlFile)).toEqual({ code: 0, stdout: `${yamlFile}: OK (2 sites, 0 apps, 4 wrappers)\n`, stderr: '' });
  });

  test('an unreadable file: exit 1, nothing on stdout', () => {
    const r = fcgipm('import-apache', path.join(FIXTURES, 'fcgid.conf'), '/nonexistent/site.conf');
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'fcgipm: import-apache: cannot read /nonexistent/site.conf: no such file\n' });
  });

  test('no file: usage, exit 2', () => {
    expect(fcgipm('import-apache')).toMatchObject({ code: 2, stderr: expect.stringMatching(/missing FILE\.conf/) });
  });
});
