import { readOpenFileLimit, upstreamConnectionCap } from './upstream-connections';
import { UpstreamPool } from './upstream-pool';

/**
 * Keep-alive connections to the model server. One pool per upstream origin, no client-side
 * timeouts: the gateway owns the deadlines and cancels through the tunnel, and a model may
 * legitimately think for minutes before its first token. One connection per concurrent exchange,
 * up to what the open-file limit allows (see upstreamConnectionCap).
 */
export class UpstreamClient {
  readonly pool: UpstreamPool;

  constructor(
    readonly origin: string,
    connections = upstreamConnectionCap(readOpenFileLimit()),
  ) {
    this.pool = new UpstreamPool(origin, {
      connections,
      client: { pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 },
    });
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
