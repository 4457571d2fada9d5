import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/**
 * Real nginx and Apache httpd as private servers for end-to-end tests: a config generated in
 * the test's temp dir (own prefix, pid file, logs, temp paths), loopback only, foreground, so
 * the system's /etc/nginx and /etc/apache2 and their services are never used.
 */

export const NGINX_BIN = '/usr/sbin/nginx';
export const APACHE_BIN = '/usr/sbin/apache2';
export const LIGHTTPD_BIN = '/usr/sbin/lighttpd';
export const CADDY_BIN = '/usr/bin/caddy';
export const H2O_BIN = '/usr/bin/h2o';
const APACHE_MODULES = '/usr/lib/apache2/modules';

export interface WebServer {
  readonly port: number;
  readonly base: string;
  readonly dir: string;
  readonly errorLog: string;
  stop(): Promise<void>;
}

/** A free loopback TCP port (bound to port 0, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts on port; rejects with the log's tail after timeoutMs. */
async function waitForPort(port: number, child: ChildProcess, logFile: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`web server exited with ${String(child.exitCode)}: ${tail(logFile)}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`web server did not listen on ${port}: ${tail(logFile)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        resolve();
        return;
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
}

/**
 * nginx in the foreground with `server` as the body of its one server block. Runs its
 * workers as root so they can reach a 0660 root-owned fcgipm socket. workerConnections past
 * 256 (many idle clients) raises the worker's open-file limit to match.
 */
export async function startNginx(dir: string, serverBlock: string, httpExtra = '', workerConnections = 256): Promise<WebServer> {
  const port = await freePort();
  fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
  const errorLog = path.join(dir, 'logs', 'error.log');
  const conf = `
daemon off;
master_process on;
worker_processes 1;
${process.getuid?.() === 0 ? 'user root root;' : ''}
pid ${dir}/nginx.pid;
error_log ${errorLog} info;
${workerConnections > 256 ? `worker_rlimit_nofile ${workerConnections + 1024};` : ''}
events { worker_connections ${workerConnections}; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_max_body_size 64m;
  ${httpExtra}
  server {
    listen 127.0.0.1:${port};
    server_name localhost;
    ${serverBlock}
  }
}
`;
  const file = path.join(dir, 'nginx.conf');
  fs.writeFileSync(file, conf);
  const child = spawn(NGINX_BIN, ['-p', dir, '-c', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, child, errorLog);
  return { port, base: `http://127.0.0.1:${port}`, dir, errorLog, stop: stopper(child) };
}

/** Apache httpd (event MPM) with mod_proxy_fcgi, `body` appended to a minimal config. */
export async function startApache(dir: string, body: string, modules: string[] = []): Promise<WebServer> {
  const port = await freePort();
  const errorLog = path.join(dir, 'error.log');
  const load = ['mpm_event', 'authz_core', 'proxy', 'proxy_fcgi', ...modules]
    .map((m) => `LoadModule ${m}_module ${APACHE_MODULES}/mod_${m}.so`)
    .join('\n');
  const root = process.getuid?.() === 0;
  const conf = `
ServerRoot "${dir}"
DefaultRuntimeDir "${dir}"
PidFile "${dir}/httpd.pid"
ErrorLog "${errorLog}"
LogLevel warn
Listen 127.0.0.1:${port}
ServerName 127.0.0.1
${load}
${root ? 'User nobody\nGroup nogroup' : ''}
DocumentRoot "${dir}"
${body}
`;
  const file = path.join(dir, 'httpd.conf');
  fs.writeFileSync(file, conf);
  const child = spawn(APACHE_BIN, ['-f', file, '-DFOREGROUND'], { stdio: ['ignore', 'ignore', 'inherit'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' } });
  await waitForPort(port, child, errorLog);
  return { port, base: `http://127.0.0.1:${port}`, dir, errorLog, stop: stopper(child) };
}

/** lighttpd (Debian package) in the foreground, `body` appended to a minimal config. */
export async function startLighttpd(dir: string, body: string): Promise<WebServer> {
  const port = await freePort();
  const errorLog = path.join(dir, 'error.log');
  const conf = `
server.bind = "127.0.0.1"
server.port = ${port}
server.errorlog = "${errorLog}"
server.upload-dirs = ( "${dir}" )
${body}
`;
  const file = path.join(dir, 'lighttpd.conf');
  fs.writeFileSync(file, conf);
  const child = spawn(LIGHTTPD_BIN, ['-D', '-f', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, child, errorLog);
  return { port, base: `http://127.0.0.1:${port}`, dir, errorLog, stop: stopper(child) };
}

/**
 * Caddy (Debian package) from a Caddyfile: `site` is the body of one site block on
 * http://127.0.0.1:<port>; no admin endpoint, no HTTPS, its data and config dirs in `dir`.
 */
export async function startCaddy(dir: string, site: string): Promise<WebServer> {
  const port = await freePort();
  const errorLog = path.join(dir, 'caddy.log');
  const conf = `{
  admin off
  auto_https off
  log {
    output file ${errorLog}
  }
}
http://127.0.0.1:${port} {
${site}
}
`;
  const file = path.join(dir, 'Caddyfile');
  fs.writeFileSync(file, conf);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, XDG_DATA_HOME: path.join(dir, 'data'), XDG_CONFIG_HOME: path.join(dir, 'config') };
  const child = spawn(CADDY_BIN, ['run', '--config', file, '--adapter', 'caddyfile'], { stdio: ['ignore', 'ignore', 'ignore'], env });
  await waitForPort(port, child, errorLog);
  return { port, base: `http://127.0.0.1:${port}`, dir, errorLog, stop: stopper(child) };
}

/** h2o (Debian package) from a YAML config: `host` is the body of the default host's `paths:`. */
export async function startH2o(dir: string, paths: string): Promise<WebServer> {
  const port = await freePort();
  const errorLog = path.join(dir, 'error.log');
  const conf = `listen:
  host: 127.0.0.1
  port: ${port}
error-log: ${errorLog}
pid-file: ${dir}/h2o.pid
${process.getuid?.() === 0 ? 'user: root\n' : ''}hosts:
  default:
    paths:
${paths}
`;
  const file = path.join(dir, 'h2o.conf');
  fs.writeFileSync(file, conf);
  const child = spawn(H2O_BIN, ['-c', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, child, errorLog);
  return { port, base: `http://127.0.0.1:${port}`, dir, errorLog, stop: stopper(child) };
}
