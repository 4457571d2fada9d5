import fs from 'node:fs';
import path from 'node:path';
import { interpreterScript, PHP_EXTENSIONS, type InterpreterPolicy } from '../../src/routing/interpreter-script';
import { tempDir } from '../helpers/fixtures';

describe('interpreterScript: the web server’s SCRIPT_FILENAME for an interpreter pool', () => {
  let root: string;
  let alias: string;
  const php: InterpreterPolicy = { roots: [], extensions: PHP_EXTENSIONS };

  beforeAll(() => {
    const d = tempDir();
    root = path.join(d, 'www');
    alias = path.join(d, 'alias');
    fs.mkdirSync(path.join(root, 'dir.php'), { recursive: true });
    fs.mkdirSync(alias);
    fs.writeFileSync(path.join(root, 'x.php'), '<?php');
    fs.writeFileSync(path.join(root, 'X.PHP'), '<?php');
    fs.writeFileSync(path.join(root, 'caf\u00e9.php'), '<?php');
    fs.writeFileSync(path.join(alias, 'a.php'), '<?php');
  });

  const params = (docRoot: string, extra: Record<string, string> = {}): Map<string, string> => new Map(Object.entries({ DOCUMENT_ROOT: docRoot, ...extra }));
  const check = (file: string | undefined, p: Map<string, string>, policy: InterpreterPolicy = php): string => {
    const r = interpreterScript(file, p, policy);
    return r.ok ? `ok ${r.scriptFilename}` : `${r.status} ${r.reason}`;
  };

  test('a file under DOCUMENT_ROOT passes unchanged', () => {
    expect(check(`${root}/x.php`, params(root))).toBe(`ok ${root}/x.php`);
  });

  test('path info after the script (no split by the web server): the file is found by walking up, as php-fpm does', () => {
    expect(check(`${root}/x.php/a/b`, params(root))).toBe(`ok ${root}/x.php/a/b`);
  });

  test('a UTF-8 file name arrives as bytes and is found', () => {
    const bytes = Buffer.from(`${root}/caf\u00e9.php`, 'utf8').toString('latin1');
    expect(check(bytes, params(root))).toBe(`ok ${bytes}`);
  });

  test('Apache Alias: CONTEXT_DOCUMENT_ROOT is an allowed root too', () => {
    expect(check(`${alias}/a.php`, params(root, { CONTEXT_DOCUMENT_ROOT: alias }))).toBe(`ok ${alias}/a.php`);
    expect(check(`${alias}/a.php`, params(root))).toBe('403 SCRIPT_FILENAME is outside the allowed roots');
  });

  test('configured roots replace the web server’s', () => {
    expect(check(`${alias}/a.php`, params(root), { roots: [alias], extensions: PHP_EXTENSIONS })).toBe(`ok ${alias}/a.php`);
    expect(check(`${root}/x.php`, params(root), { roots: [alias], extensions: PHP_EXTENSIONS })).toBe('403 SCRIPT_FILENAME is outside the allowed roots');
  });

  test('refusals: missing, directory, extension (case-sensitive), relative, dot segments, NUL, no root', () => {
    expect(check(`${root}/missing.php`, params(root))).toBe('404 File not found.');
    expect(check(`${root}/dir.php`, params(root))).toBe('404 File not found.');
    expect(check(`${root}/X.PHP`, params(root))).toBe('403 Access denied.');
    expect(check('x.php', params(root))).toBe('404 SCRIPT_FILENAME is not an absolute path');
    expect(check(`${root}/../www/x.php`, params(root))).toBe('400 dot segment in SCRIPT_FILENAME');
    expect(check(`${root}/x.php\0.txt`, params(root))).toBe('400 NUL in SCRIPT_FILENAME');
    expect(check(`${root}/x.php`, new Map())).toMatch(/^403 no allowed root/);
    expect(check(undefined, params(root))).toMatch(/^404 no SCRIPT_FILENAME/);
  });

  test('a root that is a prefix of another directory name does not cover it', () => {
    expect(check(`${root}2/x.php`, params(root))).toBe('403 SCRIPT_FILENAME is outside the allowed roots');
  });

  test('without an extension list any regular file passes', () => {
    fs.writeFileSync(path.join(root, 'tool.pl'), '');
    expect(check(`${root}/tool.pl`, params(root), { roots: [], extensions: [] })).toBe(`ok ${root}/tool.pl`);
  });
});
