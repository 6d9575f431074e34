import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '@st/logging';

/** Reconnect backoff: 100 ms doubling up to 2 s, forever (Redis coming back must be noticed). */
const RECONNECT_BASE_MS = 100;
const RECONNECT_MAX_MS = 2_000;
/** A command that gets no answer (half-open connection) fails after this long. */
const COMMAND_TIMEOUT_MS = 2_000;
const CONNECT_TIMEOUT_MS = 2_000;

export function reconnectDelay(attempt: number): number {
  return Math.min(RECONNECT_BASE_MS * 2 ** Math.max(0, attempt - 1), RECONNECT_MAX_MS);
}

export interface RedisClientOptions {
  /** `redis://host:port[/db]` (ST_REDIS_URL). */
  url: string;
  /** What this connection is for, in log lines ("presence", "feed-publisher", …). */
  role: string;
  logger: Logger;
  /** ioredis options that differ per use (offline queue, retries, resubscription). */
  overrides?: RedisOptions;
}

/**
 * One ioredis connection with the project's defaults: reconnect with backoff forever, a command
 * timeout, and an 'error' listener (without one ioredis prints every connection error to the
 * console). Errors are logged once per outage, not once per reconnect attempt.
 */
export function createRedisClient(options: RedisClientOptions): Redis {
  const log = options.logger.child({ redisRole: options.role });
  const client = new Redis(options.url, {
    retryStrategy: reconnectDelay,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    ...options.overrides,
  });
  let down = false;
  client.on('error', (err: Error) => {
    if (down) return;
    down = true;
    log.warn({ err: err.message }, 'redis connection lost; reconnecting with backoff');
  });
  client.on('ready', () => {
    if (down) log.info('redis connection back');
    down = false;
  });
  return client;
}

/** Resolves once `client` is ready; rejects after `timeoutMs` (the client keeps trying). */
export function whenReady(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new Error(`redis not ready within ${timeoutMs} ms (status ${client.status})`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}
