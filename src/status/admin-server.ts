import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { listenOnFd, tcpAddress } from '../frontend/listen-fd';
import type { Logger } from '../log';
import type { Manager } from '../pm/manager';

export interface AdminServerOptions {
  readonly host: string;
  readonly port: number;
  readonly manager: Manager;
  readonly logger: Logger;
  /** Listen on this already listening descriptor (socket activation); host and port are ignored. */
  readonly fd?: number;
}

/**
 * The admin listener: its own port, served by the manager process itself, so status is
 * there exactly when every worker is busy (php-fpm's status page needs a free worker —
 * bakins/php-fpm-exporter#28 — until pm.status_listen).
 *
 *   /status.json  the scoreboard (DESIGN.md's contract)
 *   /healthz      200 "ok" while serving; 503 while stopping
 */
export class AdminServer {
  private readonly o: AdminServerOptions;
  private readonly server: http.Server;
  private stopping = false;

  constructor(options: AdminServerOptions) {
    this.o = options;
    this.server = http.createServer((req, res) => this.onRequest(req, res));
  }

  listen(): Promise<AddressInfo> {
    if (this.o.fd !== undefined) return listenOnFd(this.server, this.o.fd).then(tcpAddress);
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting; /healthz answers 503 to connections still open. Idempotent. */
  close(): Promise<void> {
    this.stopping = true;
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, {
        'content-type': type,
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, 'text/plain; charset=utf-8', 'method not allowed\n');
      return;
    }
    switch (path) {
      case '/status.json':
        send(200, 'application/json', `${JSON.stringify(this.o.manager.snapshot(), null, 2)}\n`);
        return;
      case '/healthz':
        if (this.stopping) send(503, 'text/plain; charset=utf-8', 'stopping\n');
        else send(200, 'text/plain; charset=utf-8', 'ok\n');
        return;
      default:
        send(404, 'text/plain; charset=utf-8', 'not found: try /status.json or /healthz\n');
    }
  }
}
