import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { HttpServerLifecycle, portInUse } from '@st/http-kit';
import type { Logger } from '@st/logging';
import { DISCOVERY_CONNECT_PREFIX } from './discovery-connect-routes';

export interface DiscoveryHttpServerOptions {
  /** The Connect face of ProviderDiscoveryService (createDiscoveryConnectHandler). */
  connect: (req: IncomingMessage, res: ServerResponse) => void;
  /** Why answers may be stale right now (Redis unreachable), or undefined; /readyz says it. */
  degraded: () => string | undefined;
  logger: Logger;
  /** The request line and headers must arrive within this long (ST_HEADER_TIMEOUT_MS). */
  headerTimeoutMs: number;
  /** Other Connect services on this port, by URL prefix (UsageService). */
  mounts?: { prefix: string; handler: (req: IncomingMessage, res: ServerResponse) => void }[];
}

/**
 * The HTTP port of a discovery process without a gateway: ProviderDiscoveryService over Connect
 * for browsers (the same routes a gateway mounts), and /healthz, /readyz for probes. Nothing else:
 * tunnels are served by gateways.
 */
export class DiscoveryHttpServer {
  readonly server: Server;
  private readonly http: HttpServerLifecycle;

  constructor(private readonly options: DiscoveryHttpServerOptions) {
    this.server = createServer(
      {
        keepAlive: true,
        headersTimeout: options.headerTimeoutMs,
        // Node checks the header deadline only this often (30 s by default).
        connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(options.headerTimeoutMs / 4))),
      },
      (req, res) => this.handle(req, res),
    );
    this.http = new HttpServerLifecycle(this.server);
  }

  async listen(host: string, port: number): Promise<number> {
    const bound = await this.http.listen(host, port, {
      explain: (err) => (err.code === 'EADDRINUSE' ? portInUse(host, port, 'ST_HTTP_PORT') : undefined),
    });
    this.options.logger.info({ address: `${host}:${bound}` }, 'discovery HTTP (Connect) listening');
    return bound;
  }

  /**
   * Stops accepting; open watches get `graceMs`, then their connections are cut (a browser's
   * watch reconnects to another replica and re-syncs from its snapshot).
   */
  async close(graceMs: number): Promise<void> {
    await this.http.close(graceMs);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    if (url.startsWith(DISCOVERY_CONNECT_PREFIX)) return this.options.connect(req, res);
    for (const mount of this.options.mounts ?? []) if (url.startsWith(mount.prefix)) return mount.handler(req, res);
    const path = url.split('?')[0];
    if (path === '/healthz' || path === '/readyz') {
      // Degraded stays ready (200), as on gateways: the management API still works from the store,
      // and every replica shares the one Redis, so turning unready would take them all out at once.
      const degraded = path === '/readyz' ? this.options.degraded() : undefined;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(degraded ? JSON.stringify({ status: 'degraded', reason: degraded }) : '{"status":"ok"}');
      return;
    }
    const message = `no such endpoint ${req.method} ${path.slice(0, 200)} on st-discovery: it serves ${DISCOVERY_CONNECT_PREFIX}* (Connect), /healthz and /readyz; tunnels are on the gateways (ST_PUBLIC_URL)`;
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code: 'unknown_url' } }));
  }
}
