import fs from 'node:fs';
import path from 'node:path';
import { findCommand } from '../../src/cli/command-path';
import { tempDir } from '../helpers/fixtures';

describe('findCommand: a command as a shell finds it', () => {
  let a: string;
  let b: string;
  beforeAll(() => {
    const d = tempDir();
    a = path.join(d, 'a');
    b = path.join(d, 'b');
    fs.mkdirSync(a);
    fs.mkdirSync(b);
    fs.writeFileSync(path.join(a, 'tool'), '', { mode: 0o644 }); // not executable: skipped
    fs.writeFileSync(path.join(b, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
    fs.mkdirSync(path.join(a, 'dir'), { mode: 0o755 }); // a directory: skipped
    fs.writeFileSync(path.join(b, 'dir'), '#!/bin/sh\n', { mode: 0o755 });
  });

  test('the first executable regular file along PATH wins', () => {
    expect(findCommand('tool', `${a}:${b}`, '/')).toBe(path.join(b, 'tool'));
    expect(findCommand('dir', `${a}:${b}`, '/')).toBe(path.join(b, 'dir'));
  });

  test('a name with a slash is a path from the working directory, never searched', () => {
    expect(findCommand('./tool', `${a}:${b}`, a)).toBe(path.join(a, 'tool'));
    expect(findCommand('b/tool', '', path.dirname(a))).toBe(path.join(b, 'tool'));
  });

  test('an empty PATH entry is the working directory; a name found nowhere is undefined', () => {
    expect(findCommand('tool', `:${a}`, b)).toBe(path.join(b, 'tool'));
    expect(findCommand('tool', a, '/')).toBeUndefined();
    expect(findCommand('tool', undefined, '/')).toBeUndefined();
  });
});
