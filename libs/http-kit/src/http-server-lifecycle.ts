import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export interface ListenOptions {
  /** Pending connections the kernel queues for accept; node's default (511) when left out. */
  backlog?: number;
  /** The error to reject with when binding fails (a message naming the setting to change); the raw error when undefined. */
  explain?: (err: NodeJS.ErrnoException) => Error | undefined;
}

/** The error for EADDRINUSE: which address, and the setting that chose the port. */
export function portInUse(host: string, port: number, setting: string): Error {
  return new Error(`cannot listen for HTTP on ${host}:${port}: the port is in use. Stop the other process or choose another port (${setting}).`);
}

/** What to do when the grace period of {@link HttpServerLifecycle.close} ends, before the sockets are cut. */
export interface LastWords {
  /** Ends what is still open with a message the client can see (an error event). */
  send(): void;
  /** How long those last writes get before the sockets are destroyed. */
  flushMs: number;
}

/**
 * An HTTP server from listen to close, for every HTTP port we serve (gateway, discovery, metrics):
 * binding with an error that says what to change, the bound port (0 picks one), and a close that
 * does not wait forever on keep-alive connections. What the server answers is its owner's.
 */
export class HttpServerLifecycle {
  private readonly sockets = new Set<Socket>();

  constructor(readonly server: Server) {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** Binds and returns the bound port. */
  async listen(host: string, port: number, options: ListenOptions = {}): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (err: NodeJS.ErrnoException) => reject(options.explain?.(err) ?? err));
      this.server.listen({ host, port, backlog: options.backlog }, () => resolve());
    });
    return this.port ?? port;
  }

  /** The bound port, once listening. */
  get port(): number | undefined {
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : undefined;
  }

  /**
   * Stops accepting and closes idle connections; the busy ones get `graceMs` to finish, then
   * `lastWords` (if any) are sent and, after their flush time, every socket left is destroyed.
   */
  async close(graceMs: number, lastWords?: LastWords): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    let cut: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      if (!lastWords) return this.destroySockets();
      lastWords.send();
      this.server.closeIdleConnections();
      cut = setTimeout(() => this.destroySockets(), lastWords.flushMs);
      cut.unref();
    }, graceMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
    clearTimeout(cut);
  }

  /** Stops accepting and destroys every connection at once (nothing served there is worth waiting for). */
  async closeNow(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.destroySockets();
    await closed;
  }

  private destroySockets(): void {
    for (const s of this.sockets) s.destroy();
  }
}
