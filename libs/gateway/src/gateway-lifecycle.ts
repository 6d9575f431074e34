import type { Server } from 'node:http';
import type { Socket } from 'node:net';
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
  private readonly sockets = new Set<Socket>();
  /** Answers being relayed: ended with an error event if still open when the grace period ends. */
  readonly openAnswers = new Set<ShutdownAnswer>();

  constructor(
    private readonly server: Server,
    private readonly logger: Logger,
  ) {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'EADDRINUSE'
            ? new Error(`cannot listen for HTTP on ${host}:${port}: the port is in use. Stop the other process or choose another port (ST_HTTP_PORT).`)
            : err,
        ),
      );
      // A deeper accept queue than node's 511: thousands of callers connecting at once (a batch
      // job's workers starting together) would otherwise overflow it and wait on SYN retries.
      this.server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => resolve());
    });
    const address = this.server.address();
    const bound = typeof address === 'object' && address ? address.port : port;
    this.logger.info({ address: `${host}:${bound}` }, 'gateway listening');
    return bound;
  }

  /** Stops accepting, gives open answers `graceMs` to finish, then cuts what is left. */
  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    // At the deadline, answers still open end with an error event (the client must see the cut);
    // the sockets are destroyed a moment later, once those last writes had a chance to go out.
    let cut: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      for (const r of this.openAnswers) r.shutdown(graceMs);
      this.server.closeIdleConnections();
      cut = setTimeout(() => {
        for (const s of this.sockets) s.destroy();
      }, SHUTDOWN_FLUSH_MS);
      cut.unref();
    }, graceMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
    clearTimeout(cut);
  }
}
