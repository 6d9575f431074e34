import { hostname } from 'node:os';
import { BOUNDED_TUNNEL_SERVICE, Broker, type BrokerIdentity, BrokerMetrics, createRelayService } from '@st/broker';
import type { GrpcServerHost } from '@st/grpc-kit';
import { whenReady } from '@st/live-state';
import { FAST_RELAY_SERVICE } from '@st/tunnel-protocol';
import { AgentAdmission } from './agent-admission';
import { startRevocation } from './revocation';
import type { RoleContext } from './role-context';
import type { ServerConfig } from './server-config';

/** How long a starting broker waits for Redis before it serves without presence (degraded). */
const REDIS_AT_START_MS = 5_000;

/**
 * The broker role: admits agents on TunnelService, serves RelayService to gateways in other
 * processes, and drops streams when the change feed revokes them (from any process, with Redis).
 * With Redis it advertises its streams in presence (so gateways elsewhere find them) and its
 * heartbeat (so agents learn how many brokers there are).
 */
export function addBrokerRole(ctx: RoleContext, grpc: GrpcServerHost): Broker {
  const { config, store, secrets, live, logger } = ctx;
  const meter = ctx.metrics ? new BrokerMetrics(ctx.metrics) : undefined;
  const broker = new Broker({
    meter,
    authenticator: new AgentAdmission(store, secrets),
    logger: logger.child({ role: 'broker' }),
    brokerId: brokerIdentity(config, config.grpcPort).brokerId,
    session: { healthIntervalMs: config.healthIntervalMs, streamQueueLimitBytes: config.streamQueueLimitBytes },
    maxStreamsPerTunnel: config.maxStreamsPerTunnel,
    presence: live.presence,
    onTunnelChange: (tunnelId, userId, change) => live.feed.publish({ kind: 'tunnel', userId, tunnelId, reason: change }),
    widenWindows: (call) => grpc.widenWindows(call),
  });
  meter?.observe(broker);
  startRevocation(live.feed, store, broker, logger.child({ role: 'revocation' }));
  // Revocations published while this process could not hear them are lost: check every stream.
  live.redisFeed?.onResync(() => {
    void republish(broker, ctx);
    broker.revalidate().then(
      (dropped) => logger.info({ dropped }, 'streams admitted again after a change feed reconnect'),
      (err: unknown) => logger.error({ err }, 'admitting streams again after a change feed reconnect failed'),
    );
  });
  grpc.addService('sessiontunnel.v1.TunnelService', BOUNDED_TUNNEL_SERVICE, broker.tunnelService);
  // The same handler on the light HTTP/2 stack, for plaintext connections that begin with Connect
  // (ST_LIGHT_AGENT_STREAMS); grpc-js above serves the rest (TLS, Connect after another call).
  const connect = BOUNDED_TUNNEL_SERVICE.connect;
  grpc.addLightStreamingMethod(connect.path, broker.connectAgent, { deserialize: connect.requestDeserialize, serialize: connect.responseSerialize });
  grpc.addService('sessiontunnel.v1.RelayService', FAST_RELAY_SERVICE, createRelayService(broker, ctx.serviceToken, logger, (call) => grpc.widenWindows(call)));
  return broker;
}

/**
 * Called once the gRPC port is bound (ST_GRPC_PORT may be 0): the broker's id and address are
 * final now. With presence, what a previous run of this id left is cleared before any stream of
 * this run is written (the broker holds their writes until then), and the leases start renewing.
 */
export async function brokerListening(broker: Broker, ctx: RoleContext, grpcPort: number): Promise<void> {
  const identity = brokerIdentity(ctx.config, grpcPort);
  const presence = ctx.live.presence;
  if (presence) {
    // The client has no offline queue: the clearing would fail before its first connection.
    await whenReady(presence.redis, REDIS_AT_START_MS).catch((err: Error) =>
      ctx.logger.warn({ err: err.message }, 'Redis (ST_REDIS_URL) not reachable at start: serving agents anyway; presence is written once it answers'),
    );
    presence.start();
  }
  await broker.advertise(identity);
  ctx.logger.info({ ...identity, presence: ctx.live.presence !== undefined }, 'broker advertised');
}

/**
 * ST_BROKER_ID, else `<hostname>:<port>`: the same across restarts of one broker (so a restart
 * clears what the previous run left in presence), distinct between brokers (pods have their own
 * hostnames; brokers on one host their own ports). The address is ST_ADVERTISE_ADDRESS, else
 * ST_HOST:port (configuration refuses a wildcard ST_HOST with Redis and no ST_ADVERTISE_ADDRESS).
 */
export function brokerIdentity(config: Pick<ServerConfig, 'brokerId' | 'advertiseAddress' | 'host'>, grpcPort: number): BrokerIdentity {
  const host = config.host.includes(':') && !config.host.startsWith('[') ? `[${config.host}]` : config.host;
  return {
    brokerId: config.brokerId ?? `${hostname()}:${grpcPort}`,
    advertiseAddress: config.advertiseAddress ?? `${host}:${grpcPort}`,
  };
}

/**
 * After a Redis reconnect: Redis may have lost this broker's entries (restarted empty, or leases
 * expired during a long partition) while every reader flushed its cache and re-read presence at
 * once. The entries are written again now instead of at the next lease refresh, and an 'agent'
 * event per tunnel held here makes gateways and watchers read them again: a refresh alone
 * publishes nothing, and a stable tunnel would stay `waiting` in open watches.
 */
async function republish(broker: Broker, ctx: RoleContext): Promise<void> {
  const presence = ctx.live.presence;
  if (!presence) return;
  for (let attempt = 0; attempt < 20; attempt++) {
    // Presence has its own connection, which may come back after the feed's.
    await whenReady(presence.redis, 5_000).catch(() => undefined);
    if (await presence.refresh()) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const tunnels = new Map<string, string>();
  for (const s of broker.registry.all()) tunnels.set(s.tunnel.id, s.tunnel.userId);
  for (const [tunnelId, userId] of tunnels) ctx.live.feed.publish({ kind: 'tunnel', userId, tunnelId, reason: 'agent' });
  ctx.logger.info({ tunnels: tunnels.size }, 'presence written again after a Redis reconnect');
}
