export { RedisPresence, DEFAULT_LEASE_MS, DEFAULT_REFRESH_MS } from './redis-presence';
export type { RedisPresenceOptions } from './redis-presence';
export type { PresenceEntry, PresenceHealth, PresencePatch } from './presence-entry';
export { RedisChangeFeed, MAX_PENDING_PUBLISHES } from './redis-change-feed';
export type { RedisChangeFeedOptions, ResyncListener } from './redis-change-feed';
export { LiveStateUnavailableError } from './live-state-error';
export { createRedisClient, whenReady, reconnectDelay } from './redis-client';
export type { RedisClientOptions } from './redis-client';
