import { Pool } from 'undici';
import { UpstreamConnections } from './upstream-connections';

/** Connections to the model server: enough for any concurrency a tunnel sees; beyond, requests wait. */
const MAX_CONNECTIONS = 512;

const OPTIONS = {
  pipelining: 1,
  keepAliveTimeout: 30_000,
  headersTimeout: 0,
  bodyTimeout: 0,
};

/**
 * Keep-alive connections to the model server, no client-side timeouts: the gateway owns the
 * deadlines and cancels through the tunnel, and a model may legitimately think for minutes before
 * its first token. Exchanges take theirs from `connections`; `pool` serves the occasional request
 * of the health probes.
 */
export class UpstreamClient {
  readonly pool: Pool;
  readonly connections: UpstreamConnections;

  constructor(readonly origin: string) {
    this.pool = new Pool(origin, { connections: MAX_CONNECTIONS, ...OPTIONS });
    this.connections = new UpstreamConnections(origin, OPTIONS, MAX_CONNECTIONS);
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.destroy(), this.connections.destroy()]);
  }
}
