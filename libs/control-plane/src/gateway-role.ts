import type { ExchangeOpener } from '@st/broker';
import { Gateway, type GatewayStore, RedisLimitCounters } from '@st/gateway';
import type { TunnelRuntime } from '@st/live-state';
import type { RoleContext } from './role-context';

export type GatewayMounts = ConstructorParameters<typeof Gateway>[0]['mounts'];

/** The gateway role: the OpenAI-compatible HTTP face, over the given exchange opener and live state. */
export function createGateway(ctx: RoleContext, store: GatewayStore, opener: ExchangeOpener, runtime: TunnelRuntime, mounts: GatewayMounts): Gateway {
  const { config, logger } = ctx;
  // With Redis the limits hold across every gateway (slots leased, so a killed gateway frees its
  // own); without it they are counted in this process.
  const limitCounters = config.redisUrl
    ? new RedisLimitCounters({ url: config.redisUrl, prefix: config.redisPrefix, logger: logger.child({ role: 'gateway' }) })
    : undefined;
  limitCounters?.start();
  return new Gateway({
    store,
    opener,
    runtime,
    logger: logger.child({ role: 'gateway' }),
    maxBodyBytes: config.maxBodyBytes,
    maxJsonDepth: config.maxJsonDepth,
    firstByteTimeoutMs: config.firstByteTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    mounts,
    bodyDeadline: { idleTimeoutMs: config.bodyIdleTimeoutMs, minBytesPerSecond: config.bodyMinRate, rateWindowMs: config.bodyRateWindowMs },
    httpLimits: {
      headerTimeoutMs: config.headerTimeoutMs,
      maxConnections: config.maxConnections,
      keepAliveTimeoutMs: config.keepAliveTimeoutMs,
      maxRequestsPerConnection: config.maxRequestsPerConnection,
    },
    limitCounters,
    requestLimits: {
      tunnelConcurrency: config.limitTunnelConcurrency,
      userConcurrency: config.limitUserConcurrency,
      userRps: config.limitUserRps,
      userBurst: config.limitUserBurst,
    },
  });
}
