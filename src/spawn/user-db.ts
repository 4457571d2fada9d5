import fs from 'node:fs';
import { InvalidArgumentError } from '../errors';

export interface UserEntry {
  readonly name: string;
  readonly uid: number;
  /** The user's primary group. */
  readonly gid: number;
}

function readTable(file: string): string[][] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

/**
 * A user by name or number, from /etc/passwd (Node has no getpwnam). A number not in the
 * file is accepted as is, with its own number as group, as suEXEC-style setups do.
 */
export function lookupUser(nameOrId: string, passwd = '/etc/passwd'): UserEntry {
  for (const f of readTable(passwd)) {
    if (f[0] === nameOrId || f[2] === nameOrId) return { name: f[0] ?? nameOrId, uid: Number(f[2]), gid: Number(f[3]) };
  }
  if (/^\d+$/.test(nameOrId)) return { name: nameOrId, uid: Number(nameOrId), gid: Number(nameOrId) };
  throw new InvalidArgumentError(`no such user "${nameOrId}" in ${passwd}`);
}

/** A group by name or number, from /etc/group. */
export function lookupGroup(nameOrId: string, group = '/etc/group'): number {
  for (const f of readTable(group)) {
    if (f[0] === nameOrId || f[2] === nameOrId) return Number(f[2]);
  }
  if (/^\d+$/.test(nameOrId)) return Number(nameOrId);
  throw new InvalidArgumentError(`no such group "${nameOrId}" in ${group}`);
}

/**
 * What initgroups(3) gives a user: the groups of /etc/group that list the user as a member,
 * and the group the process runs as, in ascending order without repeats.
 */
export function supplementaryGroups(userName: string, gid: number, group = '/etc/group'): number[] {
  const out = new Set<number>([gid]);
  for (const f of readTable(group)) {
    const members = (f[3] ?? '').split(',');
    if (members.includes(userName) && /^\d+$/.test(f[2] ?? '')) out.add(Number(f[2]));
  }
  return [...out].sort((a, b) => a - b);
}
