import { type Broker, type ExchangeOpener, RemoteExchangeOpener } from '@st/broker';
import { BrokerChannelPool, BrokerRouter, ConsoleSite, Gateway, GatewayMetrics, type GatewayStore, RedisLimitCounters, UsageBatcher } from '@st/gateway';
import type { PresenceEntry, PresenceView, TunnelRuntime } from '@st/live-state';
import { builtConsoleDir } from './console-dir';
import type { RoleContext } from './role-context';
import { serviceChannelCredentials } from './service-tls';

/**
 * How long an exchange waits for a channel to a broker found in presence: a pod that is gone
 * answers no SYN, and the exchange should rather be retried on another broker at once.
 */
const BROKER_CONNECT_TIMEOUT_MS = 3_000;

export type GatewayMounts = ConstructorParameters<typeof Gateway>[0]['mounts'];

/** The gateway role: the OpenAI-compatible HTTP face, over the given exchange opener and live state. */
export function createGateway(ctx: RoleContext, store: GatewayStore, opener: ExchangeOpener, runtime: TunnelRuntime, mounts: GatewayMounts): Gateway {
  const { config, logger, live } = ctx;
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
    console: ConsoleSite.load(config.consoleDir ?? builtConsoleDir(), logger.child({ role: 'gateway' })),
    degraded: () => (live.degraded() ? 'Redis is unreachable: routing from the last known presence (ST_REDIS_URL)' : undefined),
    // Token usage, summed in memory and written to the store once a second (never per request).
    // ST_USAGE=off: no recorder, so every exchange opens unmetered and its answer passes untouched.
    usage: config.usage ? new UsageBatcher({ writer: ctx.store, logger: logger.child({ role: 'usage' }) }) : undefined,
    meter: ctx.metrics ? new GatewayMetrics(ctx.metrics) : undefined,
  });
}

/** The gateway's opener with shared presence, and what to close with it. */
export interface RoutingOpener {
  opener: BrokerRouter;
  close(): void;
}

/**
 * With shared presence (ST_REDIS_URL) a gateway routes each exchange to the broker holding a
 * stream of the tunnel, over one pooled channel per broker (service token, ST_TLS_CA_FILE), and
 * to `broker` directly when that broker is this process's own.
 */
export function createBrokerRouter(ctx: RoleContext, view: PresenceView, broker: Broker | undefined): RoutingOpener {
  const { config, logger, serviceToken } = ctx;
  const credentials = serviceChannelCredentials(config);
  const channels = new BrokerChannelPool({
    connect: (address) => new RemoteExchangeOpener({ address, serviceToken, credentials, connectTimeoutMs: BROKER_CONNECT_TIMEOUT_MS }),
    logger,
  });
  const presence = broker ? withOwnStreams(view, broker) : view;
  const opener = new BrokerRouter({ presence, channels, local: broker, replayLimitBytes: config.maxBodyBytes, logger });
  return { opener, close: () => channels.close() };
}

/**
 * Presence with this process's broker as the authority on its own streams: they are routable the
 * moment the broker admits them, and gone the moment it drops them, whatever the lease says.
 */
function withOwnStreams(view: PresenceView, broker: Broker): Pick<PresenceView, 'entriesOf' | 'invalidate'> {
  return {
    invalidate: (tunnelId) => view.invalidate(tunnelId),
    entriesOf: async (tunnelId) => {
      const shared = await view.entriesOf(tunnelId);
      const brokerId = broker.brokerId;
      const own: PresenceEntry[] = broker.liveViewOf(tunnelId).connections.map((c) => ({
        tunnelId,
        brokerId,
        advertiseAddress: '',
        streamId: c.streamId,
        agentInstanceId: c.agentInstanceId,
        connectionEpoch: 0,
        since: c.since,
        draining: c.draining,
        health: c.health,
      }));
      return [...shared.filter((e) => e.brokerId !== brokerId), ...own];
    },
  };
}
