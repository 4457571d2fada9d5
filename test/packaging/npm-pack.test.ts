/**
 * The package as a user gets it: `npm pack`, then `npm install --global` of the tarball into a
 * private prefix (packaging/install-package.sh, which the Dockerfile's build stage runs too),
 * then the installed `fcgipm` serves a real libfcgi app, as another user where the test can
 * switch users (root): that needs the exec helper the install compiled.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fixture, tempDir } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';

const ROOT = path.resolve(__dirname, '../..');
const asRoot = process.getuid?.() === 0;

let dir: string;
let prefix: string;

beforeAll(() => {
  dir = tempDir('fcgipm-pack-');
  // Workers run as nobody below: they must reach their program and their socket directory.
  fs.chmodSync(dir, 0o755);
  prefix = path.join(dir, 'prefix');
  execFileSync(path.join(ROOT, 'packaging/install-package.sh'), [prefix], { cwd: ROOT, stdio: 'pipe' });
}, 180_000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the tarball holds what runs and nothing of the checkout besides', () => {
  const pkg = path.join(prefix, 'lib/node_modules/fcgipm');
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  expect(execFileSync(path.join(prefix, 'bin/fcgipm'), ['--version'], { encoding: 'utf8' })).toBe(`fcgipm ${version}\n`);
  for (const needed of ['bin/fcgipm.js', 'dist/cli/main.js', 'build/Release/fcgipm_native.node', 'build/Release/fcgipm-exec', 'LICENSE', 'README.md']) {
    expect(fs.existsSync(path.join(pkg, needed))).toBe(true);
  }
  for (const left of ['test', 'fixtures', 'bench', 'src/cli', 'tsconfig.json', '.ci']) {
    expect(fs.existsSync(path.join(pkg, left))).toBe(false);
  }
  // Runtime dependencies only: no compiler, test runner or linter came along.
  for (const dev of ['typescript', 'jest', 'eslint']) {
    expect(fs.existsSync(path.join(pkg, 'node_modules', dev))).toBe(false);
  }
});

test('the installed fcgipm serves a libfcgi app (as nobody when run as root)', async () => {
  const app = path.join(dir, 'hello.fcgi');
  fs.copyFileSync(fixture('hello'), app);
  fs.chmodSync(app, 0o755);
  const args = ['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(dir, 'sock'), ...(asRoot ? ['--user', 'nobody'] : []), '--', app];
  const child = spawn(path.join(prefix, 'bin/fcgipm'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const address = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /"msg":"fcgipm ready"/.test(out) ? /"http":"([^"]+)"/.exec(out) : null;
        if (m) resolve(m[1] ?? '');
      });
      child.once('exit', (code) => reject(new Error(`fcgipm exited ${String(code)}: ${err}`)));
    });
    const res = await httpRequest(`http://${address}/x`);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toMatch(asRoot ? /^Hello from fcgipm fixture .*uid=65534/ : /^Hello from fcgipm fixture/);
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
}, 60_000);
