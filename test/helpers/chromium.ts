/**
 * Headless Chromium (Debian's `chromium` package) for tests that check what a browser shows:
 * `--dump-dom` prints the DOM after the page's scripts ran for a virtual time budget.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './fixtures';

/** The first browser binary found in PATH, or undefined. */
export const CHROMIUM: string | undefined = ['chromium', 'chromium-browser', 'google-chrome']
  .flatMap((name) => (process.env.PATH ?? '').split(':').map((dir) => path.join(dir, name)))
  .find((p) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });

/**
 * Loads `url` in a fresh profile (removed afterwards), lets its scripts run for
 * `budgetMs` of virtual time, and resolves with the serialized DOM.
 */
export function dumpDom(url: string, budgetMs = 5_000): Promise<string> {
  if (!CHROMIUM) throw new Error('chromium is not installed (apt-get install chromium)');
  const profile = tempDir('fcgipm-chromium-');
  const args = [
    '--headless',
    '--disable-gpu',
    // Root in CI containers: Chromium's sandbox needs user namespaces it does not get there.
    '--no-sandbox',
    '--no-first-run',
    '--disable-extensions',
    `--user-data-dir=${profile}`,
    `--virtual-time-budget=${budgetMs}`,
    '--dump-dom',
    url,
  ];
  return new Promise<string>((resolve, reject) => {
    execFile(CHROMIUM, args, { timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      fs.rmSync(profile, { recursive: true, force: true });
      if (err) reject(new Error(`chromium failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}
