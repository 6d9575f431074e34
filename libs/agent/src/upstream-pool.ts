import { Client, Dispatcher } from 'undici';

/** New connections being opened at once; the rest of a burst waits for these (see UpstreamPool). */
export const MAX_CONNECTING = 256;

export interface UpstreamPoolOptions {
  /** Connections at most (one request at a time on each). */
  connections: number;
  /** Connections being opened (or reopened) at once at most (default {@link MAX_CONNECTING}). */
  maxConnecting?: number;
  /** Options of each undici Client (timeouts, keep-alive). */
  client?: Client.Options;
}

/** One request given to the pool: waiting in its queue, or on the connection it was handed to. */
export class UpstreamTicket {
  /** Until the request is handed to a connection (then not kept for the answer's whole life). */
  opts: Dispatcher.DispatchOptions | undefined;
  handler: Dispatcher.DispatchHandler | undefined;
  /** The connection it was handed to. */
  conn: PooledClient | undefined;

  constructor(
    private readonly pool: UpstreamPool,
    opts: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
  ) {
    this.opts = opts;
    this.handler = handler;
  }

  /**
   * The caller no longer wants the request, and its handler has not seen onRequestStart (once it
   * has, abort through the controller instead). A waiting request is dropped, and one whose
   * connection is still being opened closes that connection, so neither takes a connect from the
   * requests still wanted. The handler may still see an error, which it should ignore.
   */
  cancel(): void {
    this.pool.cancel(this);
  }
}

/** An undici Client of the pool and what the pool knows of it. */
export interface PooledClient {
  readonly client: Client;
  /** The request on it (one at a time), until the client can take another. */
  ticket: UpstreamTicket | undefined;
  /** No socket (never connected, or it closed): its next request opens one. */
  needsConnect: boolean;
}

/**
 * Keep-alive HTTP/1.1 connections to one origin, one request at a time on each, as undici's Pool
 * but with constant work per request at any size: Pool looks through all its clients for a free
 * one on every dispatch (twice), so with 10,000 answers streaming, each new request cost 20,000
 * steps (a fifth of the agent's CPU in the 10k-streams bench). Free connections wait on a stack
 * (the most recently used first, its socket the likeliest still open).
 *
 * At most `maxConnecting` connections are opened at once, first connects and reconnects of
 * clients whose socket closed (keep-alive expiry, model server restart) alike: a burst of
 * thousands of exchanges would otherwise send thousands of SYNs together, overflow the model
 * server's accept queue, and the dropped ones would wait for SYN retries (1 s, 3 s, 7 s) or fail
 * after the connect timeout. Requests beyond both limits wait here, in order, for the next free
 * connection; a cancelled one (see UpstreamTicket.cancel) is dropped from the wait, so a burst of
 * requests the gateway gave up on does not pace out the live ones behind it.
 */
export class UpstreamPool extends Dispatcher {
  /** Free clients, the most recently freed on top; some may need a connect (moved on lazily). */
  private readonly idle: PooledClient[] = [];
  /** Free clients found to need a connect while looking for a connected one. */
  private readonly idleClosed: PooledClient[] = [];
  /** The clients of `idle` and `idleClosed`, to know in constant time whether one is free. */
  private readonly idleSet = new Set<PooledClient>();
  private readonly clients = new Map<Client, PooledClient>();
  /** Clients whose connect (first or again) has not finished (succeeded or failed) yet. */
  private readonly opening = new Set<PooledClient>();
  private queue: (UpstreamTicket | undefined)[] = [];
  private queueHead = 0;
  /** Tickets in the queue not cancelled. */
  private waiting = 0;
  private readonly maxConnections: number;
  private readonly maxConnecting: number;
  private isDestroyed = false;
  private isClosed = false;

  constructor(
    readonly origin: string,
    private readonly options: UpstreamPoolOptions,
  ) {
    super();
    this.maxConnections = Math.max(1, options.connections);
    this.maxConnecting = Math.max(1, options.maxConnecting ?? MAX_CONNECTING);
  }

  /** Connections open or being opened, and requests waiting for one (tests, logs). */
  get stats(): { connections: number; opening: number; idle: number; queued: number } {
    return { connections: this.clients.size, opening: this.opening.size, idle: this.idleSet.size, queued: this.waiting };
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.isDestroyed || this.isClosed) {
      // A closed client reports the error through the handler, whatever its style.
      const gone = new Client(this.origin);
      void gone.destroy().then(() => gone.dispatch(opts, handler));
      return false;
    }
    this.submit(opts, handler);
    return true;
  }

  /** As dispatch, with a ticket to cancel the request before it starts. */
  submit(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): UpstreamTicket {
    const ticket = new UpstreamTicket(this, opts, handler);
    if (this.isDestroyed || this.isClosed) {
      ticket.opts = undefined;
      ticket.handler = undefined;
      this.dispatch(opts, handler);
      return ticket;
    }
    const conn = this.acquire();
    if (conn) this.run(conn, ticket);
    else {
      this.queue.push(ticket);
      this.waiting++;
    }
    return ticket;
  }

  /** See UpstreamTicket.cancel. */
  cancel(ticket: UpstreamTicket): void {
    const { conn } = ticket;
    if (!conn) {
      // Still waiting (or already failed by destroy): take() and destroy() skip it.
      if (ticket.handler) this.waiting--;
      ticket.opts = undefined;
      ticket.handler = undefined;
      return;
    }
    // Connected already: its request starts soon and the handler aborts it then.
    if (conn.ticket !== ticket || !this.opening.has(conn)) return;
    // The connect is for this request only (one per client): closing it frees its slot for the
    // next waiter, which starts a connect of its own.
    this.remove(conn);
    void conn.client.destroy();
    this.pump();
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    this.isClosed = true;
    const done = Promise.all([...this.clients.keys()].map((c) => c.close())).then(() => undefined);
    if (!callback) return done;
    void done.then(callback);
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(errOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    const cb = typeof errOrCallback === 'function' ? errOrCallback : callback;
    const err = typeof errOrCallback === 'function' ? null : (errOrCallback ?? null);
    this.isDestroyed = true;
    const waiting = this.queue.slice(this.queueHead);
    this.queue = [];
    this.queueHead = 0;
    this.waiting = 0;
    const clients = [...this.clients.keys()];
    this.clients.clear();
    this.idle.length = 0;
    this.idleClosed.length = 0;
    this.idleSet.clear();
    this.opening.clear();
    const done = Promise.all(clients.map((c) => c.destroy(err))).then(() => undefined);
    // Requests that never got a connection fail like those that had one (cancelled ones are gone).
    for (const ticket of waiting) {
      if (!ticket?.handler) continue;
      const { opts, handler } = ticket;
      ticket.opts = undefined;
      ticket.handler = undefined;
      this.dispatch(opts!, handler);
    }
    if (!cb) return done;
    void done.then(cb);
  }

  /** A free client for the next request: a connected one first, else one to (re)connect if the cap allows. */
  private acquire(): PooledClient | undefined {
    let conn: PooledClient | undefined;
    while ((conn = this.idle.pop())) {
      if (!conn.needsConnect) {
        this.idleSet.delete(conn);
        return conn;
      }
      this.idleClosed.push(conn);
    }
    if (this.opening.size >= this.maxConnecting) return undefined;
    conn = this.idleClosed.pop();
    if (conn) {
      this.idleSet.delete(conn);
      return conn;
    }
    return this.newClient();
  }

  private run(conn: PooledClient, ticket: UpstreamTicket): void {
    const { opts, handler } = ticket;
    ticket.opts = undefined;
    ticket.handler = undefined;
    ticket.conn = conn;
    conn.ticket = ticket;
    if (conn.needsConnect) this.opening.add(conn);
    conn.client.dispatch(opts!, handler!);
  }

  private newClient(): PooledClient | undefined {
    if (this.clients.size >= this.maxConnections) return undefined;
    const client = new Client(this.origin, { pipelining: 1, ...this.options.client });
    const conn: PooledClient = { client, ticket: undefined, needsConnect: true };
    this.clients.set(client, conn);
    client.on('connect', () => this.opened(conn));
    client.on('connectionError', () => this.failed(conn));
    client.on('disconnect', () => this.closed(conn));
    // Emitted when the client can take a request again (pipelining 1: its answer has ended).
    client.on('drain', () => this.freed(conn));
    return conn;
  }

  private opened(conn: PooledClient): void {
    conn.needsConnect = false;
    if (this.opening.delete(conn)) this.pump();
  }

  /** A connect that failed: undici has failed its request; the client is not used again (as in Pool). */
  private failed(conn: PooledClient): void {
    if (!this.clients.has(conn.client)) return;
    this.remove(conn);
    this.pump();
  }

  /** The socket closed: the client's next request reconnects, which counts against maxConnecting. */
  private closed(conn: PooledClient): void {
    conn.needsConnect = true;
    // A request handed to it but not yet written reconnects at once (undici does not wait for us).
    if (this.clients.has(conn.client) && conn.ticket && conn.client.stats.pending > 0) this.opening.add(conn);
  }

  private freed(conn: PooledClient): void {
    if (!this.clients.has(conn.client)) return;
    conn.ticket = undefined;
    const next = conn.needsConnect && this.opening.size >= this.maxConnecting ? undefined : this.take();
    if (next) this.run(conn, next);
    else this.park(conn);
  }

  private park(conn: PooledClient): void {
    if (this.idleSet.has(conn)) return;
    this.idleSet.add(conn);
    this.idle.push(conn);
  }

  private remove(conn: PooledClient): void {
    this.opening.delete(conn);
    this.clients.delete(conn.client);
    // Linear, but only for a free client that failed or was dropped, which is rare.
    if (this.idleSet.delete(conn)) {
      const at = this.idle.indexOf(conn);
      if (at >= 0) this.idle.splice(at, 1);
      else this.idleClosed.splice(this.idleClosed.indexOf(conn), 1);
    }
  }

  /** Hands waiting requests to free or new connections while there are any. */
  private pump(): void {
    while (this.waiting > 0) {
      const conn = this.acquire();
      if (!conn) return;
      const next = this.take();
      if (next) this.run(conn, next);
      else this.park(conn);
    }
  }

  /** The next waiting request not cancelled. */
  private take(): UpstreamTicket | undefined {
    while (this.queueHead < this.queue.length) {
      const next = this.queue[this.queueHead];
      this.queue[this.queueHead++] = undefined;
      // Compact now and then, so a long-lived queue does not keep its head's slots.
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.queueHead);
        this.queueHead = 0;
      }
      if (next?.handler) {
        this.waiting--;
        return next;
      }
    }
    return undefined;
  }
}
