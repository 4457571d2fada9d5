/**
 * `--user NAME` gives the workers NAME's supplementary groups from /etc/group, as php-fpm and
 * suEXEC do (initgroups): an app whose user is in ssl-cert or www-data can read what those
 * groups may read. Needs a user listed as a member of a group (CI installs caddy, whose user
 * Debian puts in www-data); the first such user of this machine is taken.
 */
import fs from 'node:fs';
import path from 'node:path';
import { cleanupClis, cli, dir, ready } from '../helpers/cli';
import { fixtureForAnyUser } from '../helpers/fixtures';

afterEach(cleanupClis);

function memberPair(): { user: string; gid: number } | undefined {
  const users = new Set(
    fs
      .readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
      .filter((f) => f[2] !== '0')
      .map((f) => f[0]),
  );
  for (const line of fs.readFileSync('/etc/group', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[2] === undefined || f[2] === '0') continue;
    const member = (f[3] ?? '').split(',').find((m) => m !== '' && users.has(m));
    if (member !== undefined) return { user: member, gid: Number(f[2]) };
  }
  return undefined;
}

const pair = memberPair();
const maybe = pair ? test : test.skip;
if (!pair) process.stderr.write('worker-groups: no non-root user is a member of a group in /etc/group here; skipped\n');

maybe('a worker of --user NAME is in the groups /etc/group lists NAME in', async () => {
  const { user, gid } = pair!;
  const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(dir(), 'ipc'), '--user', user, '--min', '1', '--', fixtureForAnyUser('hello')]);
  await ready(c);
  const started = await c.waitForLine((l) => l.msg === 'worker started' && typeof l.pid === 'number');
  const status = fs.readFileSync(`/proc/${String(started.pid)}/status`, 'utf8');
  const groups = (/^Groups:[ \t]*([^\n]*)$/m.exec(status)?.[1] ?? '').trim().split(/\s+/).map(Number);
  expect(groups).toContain(gid);
  expect(groups).not.toContain(0);
});
