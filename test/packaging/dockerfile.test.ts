/**
 * The Dockerfile cannot be built on every machine that runs the tests (no Docker daemon here),
 * so its promises are checked against the repository: the build stage installs the package
 * with the same script test/packaging/npm-pack.test.ts installs and serves with, and copies
 * in everything that script and `npm pack` read; the runtime stage ships that install whole,
 * runs without root, and its HEALTHCHECK asks /healthz where its default command listens.
 */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

interface Instruction {
  op: string;
  args: string;
}

/** FROM-separated stages of instructions, continuation lines joined, comments dropped. */
function stages(text: string): Instruction[][] {
  const out: Instruction[][] = [];
  const joined = text.replace(/\\\n/g, ' ');
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = (m[1] ?? '').toUpperCase();
    if (op === 'FROM') out.push([]);
    out[out.length - 1]?.push({ op, args: (m[2] ?? '').replace(/\s+/g, ' ') });
  }
  return out;
}

const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const [build = [], runtime = []] = stages(dockerfile);
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[] };

const sources = (stage: Instruction[]): string[] =>
  stage
    .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
    .flatMap((i) => i.args.split(' ').slice(0, -1))
    .map((s) => s.replace(/\/$/, ''));

test('two stages: a build stage and a runtime stage', () => {
  expect(stages(dockerfile)).toHaveLength(2);
  expect(build[0]?.args).toMatch(/ AS build$/);
});

test('the build stage copies in every file the package is made of, and installs it with packaging/install-package.sh', () => {
  const copied = sources(build);
  for (const s of copied) expect(fs.existsSync(path.join(ROOT, s))).toBe(true);
  // What npm pack puts in the tarball comes from "files" (below the top-level directory).
  // dist/ is not copied: npm ci compiles it in the image.
  for (const f of pkg.files) {
    const top = f.replace(/\/$/, '').split('/')[0] ?? '';
    if (top !== 'dist') expect(copied).toContain(top);
  }
  for (const needed of ['package.json', 'package-lock.json', 'packaging', 'README.md']) expect(copied).toContain(needed);
  const runs = build.filter((i) => i.op === 'RUN').map((i) => i.args);
  expect(runs.some((r) => /\bnpm ci\b.*packaging\/install-package\.sh \/opt\/fcgipm\b/.test(r))).toBe(true);
});

test('the runtime stage ships the installed prefix whole, without root, with its libfcgi', () => {
  const copies = runtime.filter((i) => i.op === 'COPY').map((i) => i.args);
  expect(copies).toContain('--from=build /opt/fcgipm /opt/fcgipm');
  expect(runtime.find((i) => i.op === 'ENV')?.args).toMatch(/PATH=\/opt\/fcgipm\/bin:\$PATH/);
  expect(runtime.find((i) => i.op === 'ENTRYPOINT')?.args).toBe('["fcgipm"]');
  const user = runtime.filter((i) => i.op === 'USER').map((i) => i.args);
  expect(user.length).toBeGreaterThan(0);
  expect(user[user.length - 1]).not.toMatch(/^(root|0)$/);
  expect(runtime.filter((i) => i.op === 'RUN').map((i) => i.args).join(' ')).toMatch(/apt-get install .*\blibfcgi0/);
  // The bundled example is a fixture the build stage compiles.
  const example = copies.find((c) => c.includes('/opt/fcgipm/examples/'));
  expect(example).toMatch(/^--from=build \/src\/fixtures\/fcgi-apps\/build\/(\w+)\.fcgi /);
  const name = /build\/(\w+)\.fcgi/.exec(example ?? '')?.[1] ?? '';
  expect(fs.existsSync(path.join(ROOT, 'fixtures/fcgi-apps', `${name}.c`))).toBe(true);
});

test('the HEALTHCHECK asks /healthz on the admin address the default command listens on', () => {
  const health = runtime.find((i) => i.op === 'HEALTHCHECK')?.args ?? '';
  const probed = /http:\/\/([\d.]+:\d+)\/healthz/.exec(health)?.[1];
  expect(probed).toBeDefined();
  const cmd = JSON.parse(runtime.find((i) => i.op === 'CMD')?.args ?? '[]') as string[];
  expect(cmd[cmd.indexOf('--admin') + 1]).toBe(probed);
  expect(cmd[cmd.indexOf('--http') + 1]).toBe('0.0.0.0:8080');
  expect(runtime.find((i) => i.op === 'EXPOSE')?.args).toBe('8080');
});
