import type { Server, ServerOptions } from 'node:http';
import type { Logger } from '@st/logging';

/** Connection-level limits of the gateway's HTTP server. */
export interface HttpServerLimits {
  /** The request line and headers must arrive within this long (ST_HEADER_TIMEOUT_MS). */
  headerTimeoutMs: number;
  /** Open connections at most; over it new ones are closed at once. 0 = no cap (ST_MAX_CONNECTIONS). */
  maxConnections: number;
  /** An idle keep-alive connection is closed after this long (ST_KEEPALIVE_TIMEOUT_MS). */
  keepAliveTimeoutMs: number;
  /** Requests served on one connection before it is closed; 0 = no limit (ST_MAX_REQUESTS_PER_CONNECTION). */
  maxRequestsPerConnection: number;
}

/** Node's own ceiling on receiving a whole request, kept as a backstop behind the body deadline. */
const REQUEST_TIMEOUT_MS = 300_000;
/** At most one warning per this long about refused connections, with the count since the last. */
const DROP_WARN_INTERVAL_MS = 10_000;

/**
 * Options for createServer. Node checks header and request deadlines only every
 * `connectionsCheckingInterval` (30 s by default: slow-header connections were held ~85 s with
 * its 60 s header timeout), so the check runs often enough for the header timeout to mean it.
 */
export function httpServerOptions(limits: HttpServerLimits): ServerOptions {
  return {
    headersTimeout: limits.headerTimeoutMs,
    requestTimeout: Math.max(REQUEST_TIMEOUT_MS, limits.headerTimeoutMs),
    connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(limits.headerTimeoutMs / 4))),
    keepAliveTimeout: limits.keepAliveTimeoutMs,
  };
}

/**
 * The connection cap and keep-alive limits on a server made with {@link httpServerOptions}.
 * Connections over the cap are closed by Node before any byte is read ('drop'); the log says so
 * at most every 10 s, with how many, so that a flood cannot flood the log too.
 */
export function applyHttpServerLimits(server: Server, limits: HttpServerLimits, logger: Logger, now: () => number = Date.now): void {
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxRequestsPerSocket = limits.maxRequestsPerConnection;
  if (limits.maxConnections <= 0) return;
  server.maxConnections = limits.maxConnections;
  let dropped = 0;
  let lastWarn = -Infinity;
  server.on('drop', () => {
    dropped++;
    const t = now();
    if (t - lastWarn < DROP_WARN_INTERVAL_MS) return;
    lastWarn = t;
    logger.warn(
      { dropped, maxConnections: limits.maxConnections },
      `refused ${dropped} new HTTP connection(s): ${limits.maxConnections} are open (ST_MAX_CONNECTIONS); raise it if this is legitimate load`,
    );
    dropped = 0;
  });
}
