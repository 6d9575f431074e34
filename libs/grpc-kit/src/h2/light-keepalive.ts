/** What the keepalive does on its connection. */
export interface KeepaliveActions {
  ping(opaque: Buffer): void;
  timedOut(): void;
}

/**
 * The server's keepalive (SERVER_KEEPALIVE_OPTIONS in channel-options.ts, as grpc-js does it):
 * a PING every `timeMs`, the connection dropped when its ACK takes longer than `timeoutMs`. One
 * timer per connection; its PING's opaque data is a counter, so a stale ACK does not count.
 */
export class LightKeepalive {
  private timer: NodeJS.Timeout | undefined;
  private waiting = false;
  private sequence = 0;

  constructor(
    private readonly timeMs: number,
    private readonly timeoutMs: number,
    private readonly actions: KeepaliveActions,
  ) {}

  start(): void {
    if (this.timeMs > 0) this.arm(this.timeMs);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** A PING ACK arrived with `payload`. */
  acked(payload: Buffer): void {
    if (!this.waiting || payload.length !== 8 || payload.readUInt32BE(0) !== 0 || payload.readUInt32BE(4) !== this.sequence) return;
    this.waiting = false;
    this.arm(this.timeMs);
  }

  private arm(ms: number): void {
    this.stop();
    this.timer = setTimeout(fire, ms, this);
    this.timer.unref();
  }

  /** @internal (timer) */
  fire(): void {
    this.timer = undefined;
    if (this.waiting) {
      this.actions.timedOut();
      return;
    }
    this.waiting = true;
    this.sequence = (this.sequence + 1) >>> 0;
    const opaque = Buffer.alloc(8);
    opaque.writeUInt32BE(this.sequence, 4);
    this.actions.ping(opaque);
    this.arm(this.timeoutMs);
  }
}

function fire(keepalive: LightKeepalive): void {
  keepalive.fire();
}
