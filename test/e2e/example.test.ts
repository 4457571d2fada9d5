/**
 * examples/site.yaml, the README's runnable config, really serves: the php-cgi wrapper over
 * examples/www and the hello app, with the listeners moved to free ports and a private IPC dir.
 */
import path from 'node:path';
import { startServer, type Server } from '../../src/cli/serve-server';
import { loadConfigFile } from '../../src/config/load';
import { memoryLogger, tempDir } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';

const EXAMPLE = path.resolve(__dirname, '../../examples/site.yaml');

let server: Server | undefined;
afterAll(() => server?.close(5_000));

test('examples/site.yaml loads and serves its PHP document root and its app', async () => {
  const config = loadConfigFile(EXAMPLE);
  const dir = tempDir();
  server = await startServer(
    {
      ...config,
      // The tests run as root on CI; the example itself leaves root refused.
      defaults: { ...config.defaults, allowRoot: true },
      ipcDir: path.join(dir, 'sock'),
      listen: { ...config.listen, http: { kind: 'tcp', host: '127.0.0.1', port: 0 }, fastcgi: { kind: 'unix', path: path.join(dir, 'fcgi.sock') } },
    },
    memoryLogger().logger,
  );
  const base = `http://127.0.0.1:${server.httpAddress?.port ?? 0}`;
  const php = await httpRequest(`${base}/index.php/x`);
  expect(php.status).toBe(200);
  expect(php.body.toString()).toBe('hello from fcgipm\nSCRIPT_NAME=/index.php\nPATH_INFO=/x\n');
  const hello = await httpRequest(`${base}/hello`);
  expect(hello.body.toString()).toMatch(/^Hello from fcgipm fixture/);
});
