import { Client, Dispatcher } from 'undici';

/** New connections being opened at once; the rest of a burst waits for these (see UpstreamPool). */
export const MAX_CONNECTING = 256;

export interface UpstreamPoolOptions {
  /** Connections at most (one request at a time on each). */
  connections: number;
  /** Connections being opened at once at most (default {@link MAX_CONNECTING}). */
  maxConnecting?: number;
  /** Options of each undici Client (timeouts, keep-alive). */
  client?: Client.Options;
}

interface Queued {
  opts: Dispatcher.DispatchOptions;
  handler: Dispatcher.DispatchHandler;
}

/**
 * Keep-alive HTTP/1.1 connections to one origin, one request at a time on each, as undici's Pool
 * but with constant work per request at any size: Pool looks through all its clients for a free
 * one on every dispatch (twice), so with 10,000 answers streaming, each new request cost 20,000
 * steps (a fifth of the agent's CPU in the 10k-streams bench). Free connections wait on a stack
 * (the most recently used first, its socket the likeliest still open).
 *
 * At most `maxConnecting` new connections are opened at once: a burst of thousands of exchanges
 * would otherwise send thousands of SYNs together, overflow the model server's accept queue, and
 * the dropped ones would wait for SYN retries (1 s, 3 s, 7 s) or fail after undici's 10 s connect
 * timeout. Requests beyond both limits wait here, in order, for the next free connection.
 */
export class UpstreamPool extends Dispatcher {
  private readonly idle: Client[] = [];
  /** The same clients as `idle`, to know in constant time whether one is there. */
  private readonly idleSet = new Set<Client>();
  private readonly clients = new Set<Client>();
  /** Clients whose first connect has not finished (succeeded or failed) yet. */
  private readonly opening = new Set<Client>();
  private queue: Queued[] = [];
  private queueHead = 0;
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
    return { connections: this.clients.size, opening: this.opening.size, idle: this.idle.length, queued: this.queue.length - this.queueHead };
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.isDestroyed || this.isClosed) {
      // A closed client reports the error through the handler, whatever its style.
      const gone = new Client(this.origin);
      void gone.destroy().then(() => gone.dispatch(opts, handler));
      return false;
    }
    const client = this.popIdle() ?? this.newClient();
    if (client) client.dispatch(opts, handler);
    else this.queue.push({ opts, handler });
    return true;
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    this.isClosed = true;
    const done = Promise.all([...this.clients].map((c) => c.close())).then(() => undefined);
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
    const clients = [...this.clients];
    this.clients.clear();
    this.idle.length = 0;
    this.idleSet.clear();
    this.opening.clear();
    const done = Promise.all(clients.map((c) => c.destroy(err))).then(() => undefined);
    // Requests that never got a connection fail like those that had one.
    for (const { opts, handler } of waiting) this.dispatch(opts, handler);
    if (!cb) return done;
    void done.then(cb);
  }

  private newClient(): Client | undefined {
    if (this.clients.size >= this.maxConnections || this.opening.size >= this.maxConnecting) return undefined;
    const client = new Client(this.origin, { pipelining: 1, ...this.options.client });
    this.clients.add(client);
    this.opening.add(client);
    client.on('connect', () => this.opened(client));
    client.on('connectionError', () => this.failed(client));
    // Emitted when the client can take a request again (pipelining 1: its answer has ended).
    client.on('drain', () => this.freed(client));
    return client;
  }

  private opened(client: Client): void {
    if (this.opening.delete(client)) this.pump();
  }

  /** A connect that failed: undici has failed its request; the client is not used again (as in Pool). */
  private failed(client: Client): void {
    this.opening.delete(client);
    this.clients.delete(client);
    if (this.idleSet.delete(client)) this.idle.splice(this.idle.indexOf(client), 1);
    this.pump();
  }

  private freed(client: Client): void {
    if (!this.clients.has(client)) return;
    const next = this.take();
    if (next) client.dispatch(next.opts, next.handler);
    else if (!this.idleSet.has(client)) {
      this.idleSet.add(client);
      this.idle.push(client);
    }
  }

  private popIdle(): Client | undefined {
    const client = this.idle.pop();
    if (client) this.idleSet.delete(client);
    return client;
  }

  /** Hands waiting requests to free or new connections while there are any. */
  private pump(): void {
    while (this.queueHead < this.queue.length) {
      const client = this.popIdle() ?? this.newClient();
      if (!client) return;
      const next = this.take()!;
      client.dispatch(next.opts, next.handler);
    }
  }

  private take(): Queued | undefined {
    if (this.queueHead >= this.queue.length) return undefined;
    const next = this.queue[this.queueHead];
    this.queue[this.queueHead++] = undefined as unknown as Queued;
    // Compact now and then, so a long-lived queue does not keep its head's slots.
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    return next;
  }
}
