import { BOUNDED_TUNNEL_SERVICE, Broker, createRelayService } from '@st/broker';
import type { GrpcServerHost } from '@st/grpc-kit';
import { RelayServiceService } from '@st/proto';
import { AgentAdmission } from './agent-admission';
import { startRevocation } from './revocation';
import type { RoleContext } from './role-context';

/**
 * The broker role: admits agents on TunnelService, serves RelayService to gateways in other
 * processes, and drops streams when the change feed revokes them (from any process, with Redis).
 */
export function addBrokerRole(ctx: RoleContext, grpc: GrpcServerHost): Broker {
  const { config, store, secrets, live, logger } = ctx;
  const broker = new Broker({
    authenticator: new AgentAdmission(store, secrets),
    logger: logger.child({ role: 'broker' }),
    brokerId: `st-server@${config.host}:${config.grpcPort}`,
    session: { healthIntervalMs: config.healthIntervalMs, streamQueueLimitBytes: config.streamQueueLimitBytes },
    maxStreamsPerTunnel: config.maxStreamsPerTunnel,
    onTunnelChange: (tunnelId, userId, change) => live.feed.publish({ kind: 'tunnel', userId, tunnelId, reason: change }),
  });
  startRevocation(live.feed, store, broker, logger.child({ role: 'revocation' }));
  grpc.addService('sessiontunnel.v1.TunnelService', BOUNDED_TUNNEL_SERVICE, broker.tunnelService);
  grpc.addService('sessiontunnel.v1.RelayService', RelayServiceService, createRelayService(broker, ctx.serviceToken, logger));
  return broker;
}

/** Called once the gRPC port is bound (ST_GRPC_PORT may be 0). */
export function brokerListening(broker: Broker, ctx: RoleContext, grpcPort: number): void {
  broker.brokerId = `st-server@${ctx.config.host}:${grpcPort}`;
}
