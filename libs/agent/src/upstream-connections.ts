import { Client, type Dispatcher } from 'undici';

/** What waits for a connection: an exchange about to send its request. */
export interface ConnectionUser {
  /** Called once with the connection to dispatch on; give it back with {@link UpstreamConnections.release}. */
  useConnection(client: Client): void;
}

/**
 * The exchanges' keep-alive connections to the model server: one undici Client per connection,
 * one request on it at a time, up to `max` of them; beyond that requests wait, first come first
 * served, for the next connection given back. What undici's Pool does, without what it costs per
 * request: its dispatch layer on top of the Client's, a scan of every connection for an idle one,
 * and a 'drain' event through the pool each time a request ends. An idle connection is taken from
 * a stack, the one used last (its socket is the most likely to be still open).
 */
export class UpstreamConnections {
  private readonly idle: Client[] = [];
  private readonly all: Client[] = [];
  private readonly waiting: (ConnectionUser | undefined)[] = [];
  private waitingHead = 0;

  constructor(
    private readonly origin: string,
    private readonly options: Client.Options,
    private readonly max: number,
  ) {}

  /** Hands `user` a connection now, or as soon as one is given back. */
  acquire(user: ConnectionUser): void {
    let client = this.idle.pop();
    if (client === undefined && this.all.length < this.max) {
      client = new Client(this.origin, this.options);
      this.all.push(client);
    }
    if (client !== undefined) user.useConnection(client);
    else this.waiting.push(user);
  }

  /** The request on `client` is over (answered, failed or aborted): the next one may use it. */
  release(client: Client): void {
    if (this.waitingHead < this.waiting.length) {
      const next = this.waiting[this.waitingHead];
      this.waiting[this.waitingHead++] = undefined;
      if (this.waitingHead === this.waiting.length) {
        this.waiting.length = 0;
        this.waitingHead = 0;
      }
      next!.useConnection(client);
      return;
    }
    this.idle.push(client);
  }

  /** Connections open or opened before (for specs and diagnostics). */
  get size(): number {
    return this.all.length;
  }

  /** Requests waiting for a connection. */
  get queued(): number {
    return this.waiting.length - this.waitingHead;
  }

  async destroy(): Promise<void> {
    await Promise.all(this.all.map((c: Dispatcher) => c.destroy()));
  }
}
