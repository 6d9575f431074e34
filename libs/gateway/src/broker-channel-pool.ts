import type { ExchangeOpener } from '@st/broker';
import type { Logger } from '@st/logging';

/** An opener over one channel to one broker (RemoteExchangeOpener), closed when no longer used. */
export type BrokerChannel = ExchangeOpener & { close(): void };

/** A channel with no exchange open for this long is closed (the broker may be long gone). */
export const DEFAULT_CHANNEL_IDLE_MS = 120_000;

export interface BrokerChannelPoolOptions {
  /** Makes the channel to a broker's advertise address (host:port). */
  connect: (address: string) => BrokerChannel;
  logger: Logger;
  idleMs?: number;
  /** Milliseconds on a monotonic clock (specs). */
  now?: () => number;
}

interface Pooled {
  channel: BrokerChannel;
  open: number;
  lastUsed: number;
  /** Replaced after a failure to reach the broker: closed once its last exchange is over. */
  evicted: boolean;
}

/**
 * One HTTP/2 channel per broker advertise address, shared by every exchange this gateway sends
 * there, and closed once unused for `idleMs`: brokers come and go with their pods, and a channel
 * to an address nobody serves any more would otherwise keep redialling it for ever.
 */
export class BrokerChannelPool {
  private readonly channels = new Map<string, Pooled>();
  private readonly idleMs: number;
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: BrokerChannelPoolOptions) {
    this.idleMs = options.idleMs ?? DEFAULT_CHANNEL_IDLE_MS;
    this.now = options.now ?? (() => performance.now());
    this.timer = setInterval(() => this.sweep(), Math.max(1_000, this.idleMs / 2));
    this.timer.unref();
  }

  /** The channel to `address` for one exchange; `release` must follow once that exchange is over. */
  acquire(address: string): { opener: ExchangeOpener; release: () => void } {
    let pooled = this.channels.get(address);
    if (!pooled) {
      pooled = { channel: this.options.connect(address), open: 0, lastUsed: this.now(), evicted: false };
      this.channels.set(address, pooled);
    }
    const held = pooled;
    held.open++;
    held.lastUsed = this.now();
    let released = false;
    return {
      opener: held.channel,
      release: () => {
        if (released) return;
        released = true;
        held.open--;
        held.lastUsed = this.now();
        if (held.evicted && held.open === 0) held.channel.close();
      },
    };
  }

  /**
   * Forgets the channel after an exchange could not reach the broker there: the next exchange
   * dials afresh. A grpc-js channel that failed waits out its reconnect backoff (up to two
   * minutes) and fails every call meanwhile, so a broker restarted at the same address would stay
   * unusable from this gateway long after it is back.
   */
  evict(address: string): void {
    const pooled = this.channels.get(address);
    if (!pooled) return;
    this.channels.delete(address);
    pooled.evicted = true;
    if (pooled.open === 0) pooled.channel.close();
  }

  /** Channels currently pooled (specs, logs). */
  get size(): number {
    return this.channels.size;
  }

  /** Closes channels with no open exchange that were not used for `idleMs`. */
  sweep(): void {
    const now = this.now();
    for (const [address, pooled] of this.channels) {
      if (pooled.open > 0 || now - pooled.lastUsed < this.idleMs) continue;
      this.channels.delete(address);
      pooled.channel.close();
      this.options.logger.debug({ address }, 'closed the idle channel to a broker');
    }
  }

  close(): void {
    clearInterval(this.timer);
    for (const pooled of this.channels.values()) pooled.channel.close();
    this.channels.clear();
  }
}
