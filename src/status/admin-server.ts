import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { listenOnFd, tcpAddress } from '../frontend/listen-fd';
import type { Logger } from '../log';
import type { Manager } from '../pm/manager';
import { bearerMatches } from './admin-token';
import { History } from './history';
import { Metrics } from './metrics';
import { loadStaticAssets, type StaticAsset } from './static-assets';
import { renderStatusPage } from './status-page';

export interface AdminServerOptions {
  readonly host: string;
  readonly port: number;
  readonly manager: Manager;
  readonly logger: Logger;
  /** Listen on this already listening descriptor (socket activation); host and port are ignored. */
  readonly fd?: number;
  /** When set, every endpoint but /healthz asks for `Authorization: Bearer TOKEN` (admin-token.ts). */
  readonly token?: Buffer;
}

/** What the 404 answer lists. */
const ENDPOINTS = '/status, /status.json, /status/history.json, /metrics or /healthz';

/**
 * The admin listener: its own port, served by the manager process itself, so status is
 * there exactly when every worker is busy (php-fpm's status page needs a free worker —
 * bakins/php-fpm-exporter#28 — until pm.status_listen).
 *
 *   /status               the HTML page: pools, workers, queue, charts of the last minutes
 *   /status.json          the scoreboard (the contract `fcgipm status` reads)
 *   /status/history.json  per-second samples for the page's charts (history.ts)
 *   /metrics              Prometheus / OpenMetrics text (metrics.ts)
 *   /static/uplot.min.*   the chart library, served from here so the page works offline
 *   /healthz              200 "ok" while serving; 503 while stopping
 *
 * With a token, everything but /healthz answers 401 without `Authorization: Bearer TOKEN`:
 * probes (a kubelet, a load balancer) carry no secret, and /healthz tells them nothing else.
 */
export class AdminServer {
  private readonly o: AdminServerOptions;
  private readonly server: http.Server;
  private readonly history: History;
  private readonly metrics: Metrics;
  private readonly assets: ReadonlyMap<string, StaticAsset>;
  private stopping = false;

  constructor(options: AdminServerOptions) {
    this.o = options;
    this.history = new History(options.manager);
    this.metrics = new Metrics(options.manager);
    this.assets = loadStaticAssets();
    this.server = http.createServer((req, res) => this.onRequest(req, res));
  }

  listen(): Promise<AddressInfo> {
    if (this.o.fd !== undefined) return listenOnFd(this.server, this.o.fd).then(tcpAddress);
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.off('error', reject);
        this.history.start();
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /**
   * fcgipm is stopping: /healthz answers 503 from now on while everything else still answers,
   * so a load balancer or a Kubernetes readiness probe takes this instance out during the
   * drain, not only once its listeners are gone.
   */
  markStopping(): void {
    this.stopping = true;
  }

  /** The same as close(): the admin listener's connections are closed at once either way. */
  destroy(): void {
    void this.close();
  }

  /** Stops accepting and sampling; /healthz answers 503 to connections still open. Idempotent. */
  close(): Promise<void> {
    this.stopping = true;
    this.history.close();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const send = (status: number, type: string, body: string | Buffer, cache = 'no-store'): void => {
      res.writeHead(status, {
        'content-type': type,
        'content-length': Buffer.byteLength(body),
        'cache-control': cache,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, 'text/plain; charset=utf-8', 'method not allowed\n');
      return;
    }
    if (this.o.token && path !== '/healthz' && !bearerMatches(req.headers.authorization, this.o.token)) {
      res.setHeader('www-authenticate', 'Bearer realm="fcgipm admin"');
      send(401, 'text/plain; charset=utf-8', 'unauthorized: send Authorization: Bearer TOKEN (the admin token file)\n');
      return;
    }
    const asset = this.assets.get(path);
    if (asset) {
      send(200, asset.contentType, asset.body, 'public, max-age=3600');
      return;
    }
    switch (path) {
      case '/status.json':
        send(200, 'application/json', `${JSON.stringify(this.o.manager.snapshot(), null, 2)}\n`);
        return;
      case '/status':
        send(200, 'text/html; charset=utf-8', renderStatusPage(this.o.manager.snapshot(), this.history.columns(), Date.now()));
        return;
      case '/status/history.json':
        send(200, 'application/json', JSON.stringify(this.history.columns()));
        return;
      case '/metrics':
        this.metrics.render(req.headers.accept).then(
          (m) => send(200, m.contentType, m.body),
          (err: unknown) => {
            this.o.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'cannot collect metrics');
            send(500, 'text/plain; charset=utf-8', 'cannot collect metrics\n');
          },
        );
        return;
      case '/healthz':
        if (this.stopping) send(503, 'text/plain; charset=utf-8', 'stopping\n');
        else send(200, 'text/plain; charset=utf-8', 'ok\n');
        return;
      default:
        send(404, 'text/plain; charset=utf-8', `not found: try ${ENDPOINTS}\n`);
    }
  }
}
