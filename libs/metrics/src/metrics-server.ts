import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { HttpServerLifecycle } from '@st/http-kit';
import type { Logger } from '@st/logging';
import type { MetricsRegistry } from './metrics-registry';

export interface MetricsServerOptions {
  registry: MetricsRegistry;
  logger: Logger;
  /** The setting that chose the port, named when it cannot be bound (ST_METRICS_PORT, ST_AGENT_METRICS_ADDR). */
  setting: string;
}

/**
 * `GET /metrics` on a port of its own, never on the public gateway port: the numbers are for the
 * operator's Prometheus, not for callers. Nothing else is served (404), and nothing is computed
 * between scrapes: every gauge that samples state does so in its collect(), on the scrape.
 */
export class MetricsServer {
  private readonly server: Server;
  private readonly http: HttpServerLifecycle;

  constructor(private readonly options: MetricsServerOptions) {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.http = new HttpServerLifecycle(this.server);
  }

  /** Binds and returns the port (0 picks a free one). */
  async listen(host: string, port: number): Promise<number> {
    const bound = await this.http.listen(host, port, {
      explain: (err) =>
        err.code === 'EADDRINUSE' || err.code === 'EADDRNOTAVAIL' || err.code === 'EACCES'
          ? new Error(`cannot serve /metrics on ${host}:${port} (${err.code}): choose another port or address (${this.options.setting})`)
          : undefined,
    });
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}/metrics`;
    // Tests and operators find the port (0 = any) in this line.
    this.options.logger.info({ url, setting: this.options.setting }, 'metrics listening');
    return bound;
  }

  /** The bound port, once listening. */
  get port(): number | undefined {
    return this.http.port;
  }

  async close(): Promise<void> {
    // A scraper's keep-alive connection must not hold the shutdown.
    await this.http.closeNow();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return plain(res, 404, `no such endpoint ${path}: metrics are at /metrics\n`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'use GET /metrics\n', { allow: 'GET, HEAD' });
    let text: string;
    try {
      text = await this.options.registry.metrics();
    } catch (err) {
      this.options.logger.error({ err }, 'collecting metrics failed');
      return plain(res, 500, `collecting metrics failed: ${(err as Error).message}\n`);
    }
    res.writeHead(200, { 'content-type': this.options.registry.contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : text);
  }
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
