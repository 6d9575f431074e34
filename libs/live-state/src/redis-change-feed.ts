import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ChangeFeed, type ControlEvent } from '@st/events';
import type { Logger } from '@st/logging';
import { decodeEnvelope, encodeEnvelope } from './control-event-codec';
import { createRedisClient } from './redis-client';

/** Events waiting for Redis (down or reconnecting) beyond this are dropped; resync covers them. */
export const MAX_PENDING_PUBLISHES = 1_000;
/** A first subscription later than this after start counts as a reconnect (see resubscribe). */
const LATE_FIRST_SUBSCRIPTION_MS = 3_000;

export interface RedisChangeFeedOptions {
  /** `redis://host:port[/db]` (ST_REDIS_URL). */
  url: string;
  /** Channel prefix (ST_REDIS_PREFIX), default `st:`; the channel is `<prefix>events`. */
  prefix?: string;
  logger: Logger;
}

export type ResyncListener = () => void;

/**
 * The ChangeFeed across processes, over Redis pub/sub (channel `<prefix>events`). A drop-in
 * ChangeFeed: `publish` delivers to this process's subscribers at once and synchronously (as the
 * in-process feed does, Redis up or down), then sends the event; messages that come back from
 * Redis with this feed's own origin are skipped, so each event reaches a subscriber exactly once.
 * Events from one publisher arrive in its publish order (one connection, one channel).
 *
 * Redis down: publishes wait in ioredis's queue (at most MAX_PENDING_PUBLISHES, then dropped with
 * a warning) and go out on reconnect; events published elsewhere meanwhile are lost to this
 * process, so on every reconnect of the subscriber connection, once subscribed again, resync
 * listeners are called: they flush caches and re-read state from the store and presence.
 */
export class RedisChangeFeed extends ChangeFeed {
  readonly channel: string;
  private readonly origin = randomUUID();
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly log: Logger;
  private readonly resyncListeners = new Set<ResyncListener>();
  private pending = 0;
  private subscribedOnce = false;
  private readonly createdAt = performance.now();
  private closed = false;

  constructor(options: RedisChangeFeedOptions) {
    super();
    this.channel = `${options.prefix ?? 'st:'}events`;
    this.log = options.logger.child({ component: 'change-feed' });
    this.publisher = createRedisClient({
      url: options.url,
      role: 'feed-publisher',
      logger: options.logger,
      // Publishes wait for Redis however long it takes (no retry limit, no command timeout): the
      // pending bound below is what keeps an outage from growing memory.
      overrides: { maxRetriesPerRequest: null, commandTimeout: undefined },
    });
    // We subscribe ourselves on every 'ready', to know when the subscription is back (resync).
    this.subscriber = createRedisClient({ url: options.url, role: 'feed-subscriber', logger: options.logger, overrides: { autoResubscribe: false } });
    this.subscriber.on('message', (channel: string, message: string) => this.receive(channel, message));
    this.subscriber.on('ready', () => void this.resubscribe());
  }

  override publish(event: ControlEvent): void {
    super.publish(event);
    if (this.closed) return;
    if (this.pending >= MAX_PENDING_PUBLISHES) {
      this.log.warn({ kind: event.kind, reason: event.reason }, 'change feed: too many events waiting for Redis; event not sent to other processes');
      return;
    }
    this.pending++;
    this.publisher
      .publish(this.channel, encodeEnvelope({ origin: this.origin, event }))
      .catch((err: Error) => this.log.warn({ err: err.message, kind: event.kind, reason: event.reason }, 'change feed: event not sent to other processes'))
      .finally(() => this.pending--);
  }

  /** Called after each reconnect: the process may have missed events. Returns the unsubscribe. */
  onResync(listener: ResyncListener): () => void {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }

  /** Resolves once the first subscription is in place (tests; a service need not wait). */
  async ready(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.subscribedOnce) {
      if (Date.now() > deadline) throw new Error(`change feed not subscribed to ${this.channel} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscriber.disconnect();
    this.publisher.disconnect();
  }

  private async resubscribe(): Promise<void> {
    try {
      await this.subscriber.subscribe(this.channel);
    } catch (err) {
      // The connection went again; the next 'ready' retries.
      this.log.debug({ err: (err as Error).message }, 'change feed: subscribe failed');
      return;
    }
    if (!this.subscribedOnce) {
      this.subscribedOnce = true;
      // Redis was there at start: nothing was read without it. A process that started while
      // Redis was down has served (empty or stale) views meanwhile: those need the resync too.
      if (performance.now() - this.createdAt < LATE_FIRST_SUBSCRIPTION_MS) return;
    }
    this.log.info({ channel: this.channel }, 'change feed: resubscribed after a Redis reconnect; resyncing');
    for (const listener of [...this.resyncListeners]) {
      try {
        listener();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'change feed: resync listener failed');
      }
    }
  }

  private receive(channel: string, message: string): void {
    if (channel !== this.channel) return;
    const envelope = decodeEnvelope(message);
    if (!envelope) {
      // Never the message itself: it is not ours, and we do not log what we cannot vouch for.
      this.log.warn({ channel, bytes: message.length }, 'change feed: malformed message ignored');
      return;
    }
    if (envelope.origin === this.origin) return;
    super.publish(envelope.event);
  }
}
