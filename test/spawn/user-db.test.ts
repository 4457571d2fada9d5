/**
 * A configured user's supplementary groups, as initgroups(3) gives them under php-fpm and
 * suEXEC: a worker of a user in ssl-cert may read what that group may read.
 */
import fs from 'node:fs';
import path from 'node:path';
import { supplementaryGroups } from '../../src/spawn/user-db';
import { tempDir } from '../helpers/fixtures';

test('the groups that list the user as a member, with the group it runs as, sorted, no repeats', () => {
  const file = path.join(tempDir(), 'group');
  fs.writeFileSync(
    file,
    ['root:x:0:', 'www-data:x:33:caddy,app', 'ssl-cert:x:103:app', '# a comment', 'app:x:1001:', 'other:x:2000:application', 'dup:x:33:app', ''].join('\n'),
  );
  expect(supplementaryGroups('app', 1001, file)).toEqual([33, 103, 1001]);
  // "application" is not "app": members are whole names.
  expect(supplementaryGroups('application', 1001, file)).toEqual([1001, 2000]);
  expect(supplementaryGroups('nobody', 65534, file)).toEqual([65534]);
});

test('an unreadable group file leaves the group it runs as only', () => {
  expect(supplementaryGroups('app', 1001, path.join(tempDir(), 'absent'))).toEqual([1001]);
});
