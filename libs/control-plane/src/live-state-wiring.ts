import { ChangeFeed } from '@st/events';
import { PresenceView, RedisChangeFeed, RedisPresence } from '@st/live-state';
import type { Logger } from '@st/logging';
import type { ServerConfig } from './server-config';

/**
 * Where this process keeps the state its replicas share. Without ST_REDIS_URL: an in-process
 * change feed and nothing else (one process, the embedded default). With it: the feed over Redis
 * pub/sub, presence as leased keys, and a cached view of presence for gateways and discovery.
 */
export interface LiveState {
  feed: ChangeFeed;
  /** Set with ST_REDIS_URL. */
  redisFeed?: RedisChangeFeed;
  presence?: RedisPresence;
  view?: PresenceView;
  /** True while Redis is configured and unreachable (readiness says degraded). */
  degraded(): boolean;
  close(): Promise<void>;
}

export function openLiveState(config: Pick<ServerConfig, 'redisUrl' | 'redisPrefix'>, logger: Logger): LiveState {
  if (!config.redisUrl) {
    const feed = new ChangeFeed();
    feed.onListenerError = (err, event) => logger.error({ err, event }, 'change feed listener failed');
    return { feed, degraded: () => false, close: async () => undefined };
  }
  const redisFeed = new RedisChangeFeed({ url: config.redisUrl, prefix: config.redisPrefix, logger });
  redisFeed.onListenerError = (err, event) => logger.error({ err, event }, 'change feed listener failed');
  const presence = new RedisPresence({ url: config.redisUrl, prefix: config.redisPrefix, logger });
  const view = new PresenceView({ presence, feed: redisFeed, logger });
  // Events published while this process could not hear them are lost: read everything again.
  redisFeed.onResync(() => view.flush());
  return {
    feed: redisFeed,
    redisFeed,
    presence,
    view,
    degraded: () => presence.redis.status !== 'ready' || view.degraded,
    close: async () => {
      view.close();
      await presence.close();
      await redisFeed.close();
    },
  };
}
