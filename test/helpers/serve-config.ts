import fs from 'node:fs';
import path from 'node:path';
import { startServer, type Server } from '../../src/cli/serve-server';
import { parseConfig } from '../../src/config/load';
import { memoryLogger, tempDir, type MemoryLog } from './fixtures';

export interface ServedConfig {
  readonly server: Server;
  /** http://127.0.0.1:PORT of the HTTP front end, '' when it is off. */
  readonly base: string;
  readonly dir: string;
  readonly configFile: string;
  readonly lines: Array<Record<string, unknown>>;
  readonly waitForLine: MemoryLog['waitForLine'];
  close(): Promise<void>;
}

const open: ServedConfig[] = [];

/**
 * Starts fcgipm in-process from YAML text, as `fcgipm serve --config` would: the text is
 * written to <dir>/fcgipm.yaml and goes through the real loader. `{{dir}}` in the text is the
 * test's temp dir (for ipcDir, document roots, sockets).
 */
export async function serveConfig(yamlText: string | ((dir: string) => string), dir = tempDir()): Promise<ServedConfig> {
  const text = typeof yamlText === 'function' ? yamlText(dir) : yamlText.replace(/\{\{dir\}\}/g, dir);
  const configFile = path.join(dir, 'fcgipm.yaml');
  fs.writeFileSync(configFile, text);
  const { logger, lines, waitForLine } = memoryLogger();
  // The tests run as root on CI: workers may too, unless the config says otherwise.
  const parsed = parseConfig(text, configFile);
  const config = { ...parsed, defaults: { allowRoot: true, ...parsed.defaults } };
  const server = await startServer(config, logger);
  const served: ServedConfig = {
    server,
    base: server.httpAddress ? `http://127.0.0.1:${server.httpAddress.port}` : '',
    dir,
    configFile,
    lines,
    waitForLine,
    close: () => server.close(5_000),
  };
  open.push(served);
  return served;
}

export async function closeAllConfigs(): Promise<void> {
  await Promise.all(open.splice(0).map((s) => s.close()));
}
