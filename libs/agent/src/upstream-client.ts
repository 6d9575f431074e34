import { Pool } from 'undici';

/**
 * Keep-alive connections to the model server. One pool per upstream origin, no client-side
 * timeouts: the gateway owns the deadlines and cancels through the tunnel, and a model may
 * legitimately think for minutes before its first token.
 */
export class UpstreamClient {
  readonly pool: Pool;

  constructor(readonly origin: string) {
    this.pool = new Pool(origin, {
      connections: 512,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
