import type { Server } from 'node:http';
import { HttpServerLifecycle, portInUse } from '@st/http-kit';
import type { Logger } from '@st/logging';

/** Pending connections the kernel queues for accept (as uvicorn; Linux caps it at somaxconn). */
const LISTEN_BACKLOG = 2048;
/** After the grace period, how long the final error events get to reach the clients. */
const SHUTDOWN_FLUSH_MS = 300;

/** An answer still being relayed, which can be ended with an error event when the grace period ends. */
export interface ShutdownAnswer {
  shutdown(graceMs: number): void;
}

/**
 * The gateway's HTTP server from listen to close: the port it binds, the sockets it holds, and a
 * drain that gives open answers a grace period before it cuts them. The request handling is the
 * Gateway's; this file only knows when the server starts and stops.
 */
export class GatewayLifecycle {
  private readonly http: HttpServerLifecycle;
  /** Answers being relayed: ended with an error event if still open when the grace period ends. */
  readonly openAnswers = new Set<ShutdownAnswer>();

  constructor(
    server: Server,
    private readonly logger: Logger,
  ) {
    this.http = new HttpServerLifecycle(server);
  }

  async listen(host: string, port: number): Promise<number> {
    const bound = await this.http.listen(host, port, {
      // A deeper accept queue than node's 511: thousands of callers connecting at once (a batch
      // job's workers starting together) would otherwise overflow it and wait on SYN retries.
      backlog: LISTEN_BACKLOG,
      explain: (err) => (err.code === 'EADDRINUSE' ? portInUse(host, port, 'ST_HTTP_PORT') : undefined),
    });
    this.logger.info({ address: `${host}:${bound}` }, 'gateway listening');
    return bound;
  }

  /** Stops accepting, gives open answers `graceMs` to finish, then cuts what is left. */
  async close(graceMs: number): Promise<void> {
    // At the deadline, answers still open end with an error event (the client must see the cut);
    // the sockets are destroyed a moment later, once those last writes had a chance to go out.
    await this.http.close(graceMs, {
      send: () => {
        for (const r of this.openAnswers) r.shutdown(graceMs);
      },
      flushMs: SHUTDOWN_FLUSH_MS,
    });
  }
}
