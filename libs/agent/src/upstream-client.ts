import { readOpenFileLimit, upstreamConnectionCap } from './upstream-connections';
import { UpstreamPool } from './upstream-pool';

/**
 * How long an exchange's connect to the model server may take: longer than undici's 10 s, since a
 * model server whose accept queue overflows under a burst (thousands of callers at once) drops
 * SYNs that succeed on a retry 1, 3 or 7 s later; failing those with 502 would turn a slow start
 * into errors. A refused connection still fails at once.
 */
export const EXCHANGE_CONNECT_TIMEOUT_MS = 30_000;

export interface UpstreamClientOptions {
  /** Connections at most (default: as many as the open-file limit allows, see upstreamConnectionCap). */
  connections?: number;
  /** Connect timeout (default undici's 10 s). */
  connectTimeoutMs?: number;
}

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
    { connections = upstreamConnectionCap(readOpenFileLimit()), connectTimeoutMs }: UpstreamClientOptions = {},
  ) {
    this.pool = new UpstreamPool(origin, {
      connections,
      client: { pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0, ...(connectTimeoutMs ? { connectTimeout: connectTimeoutMs } : {}) },
    });
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
