import type { GrpcServerHost } from '@st/grpc-kit';
import {
  DiscoveryHttpServer,
  ProviderDirectory,
  USAGE_CONNECT_PREFIX,
  createDiscoveryConnectHandler,
  createDiscoveryGrpcService,
  createUsageConnectHandler,
  createUsageGrpcService,
} from '@st/discovery';
import type { TunnelRuntime } from '@st/live-state';
import { createSessionService, createTunnelManagerService, createUserService } from '@st/management';
import { ProviderDiscoveryServiceService, SessionServiceService, TunnelManagerServiceService, UsageServiceService, UserServiceService } from '@st/proto';
import type { RoleContext } from './role-context';

/** The provider directory of this process, over the store and the given live state. */
export function createDirectory(ctx: RoleContext, runtime: TunnelRuntime): ProviderDirectory {
  const { store, live, logger, config } = ctx;
  const redisFeed = live.redisFeed;
  return new ProviderDirectory({
    store,
    runtime,
    feed: live.feed,
    logger,
    maxWatchesPerUser: config.maxWatchesPerUser,
    // Registered after the presence view's flush (openLiveState), so watchers re-read fresh presence.
    onResync: redisFeed ? (listener) => redisFeed.onResync(listener) : undefined,
    get publicUrl() {
      return ctx.publicUrl;
    },
  });
}

/**
 * The discovery role's gRPC face: ProviderDiscoveryService and the management API (users,
 * sessions, tunnels), what stctl's ST_SERVER points at.
 */
export function addDiscoveryRole(ctx: RoleContext, grpc: GrpcServerHost, runtime: TunnelRuntime, directory: ProviderDirectory): void {
  const { store, auth, live, secrets, logger } = ctx;
  const managementDeps = {
    store,
    auth,
    runtime,
    feed: live.feed,
    seal: (plaintext: string) => secrets.seal(plaintext),
    logger: logger.child({ role: 'management' }),
    get publicUrl() {
      return ctx.publicUrl;
    },
  };
  grpc.addService('sessiontunnel.v1.ProviderDiscoveryService', ProviderDiscoveryServiceService, createDiscoveryGrpcService(directory, auth, logger));
  grpc.addService('sessiontunnel.v1.UsageService', UsageServiceService, createUsageGrpcService(store, auth, logger.child({ role: 'usage' })));
  grpc.addService('sessiontunnel.v1.UserService', UserServiceService, createUserService(managementDeps));
  grpc.addService('sessiontunnel.v1.SessionService', SessionServiceService, createSessionService(managementDeps));
  grpc.addService('sessiontunnel.v1.TunnelManagerService', TunnelManagerServiceService, createTunnelManagerService(managementDeps));
}

/**
 * The HTTP port of discovery without a gateway in its process: the Connect face for browsers and
 * the probes. (A gateway mounts the same Connect routes on its own port.)
 */
export function createDiscoveryHttp(ctx: RoleContext, directory: ProviderDirectory): DiscoveryHttpServer {
  const { auth, live, config } = ctx;
  const logger = ctx.logger.child({ role: 'discovery' });
  return new DiscoveryHttpServer({
    connect: createDiscoveryConnectHandler({ directory, auth, logger, corsOrigins: config.corsOrigins }),
    degraded: () => (live.degraded() ? 'Redis is unreachable: live status comes from the last known presence (ST_REDIS_URL)' : undefined),
    logger,
    headerTimeoutMs: config.headerTimeoutMs,
    mounts: [usageConnectMount(ctx)],
  });
}

/**
 * UsageService's Connect face (the web console's usage view), mounted on every gateway and on
 * discovery's HTTP port: it needs only the store and the callers' credentials.
 */
export function usageConnectMount(ctx: RoleContext): { prefix: string; handler: ReturnType<typeof createUsageConnectHandler> } {
  const { store, auth, config } = ctx;
  const logger = ctx.logger.child({ role: 'usage' });
  return { prefix: USAGE_CONNECT_PREFIX, handler: createUsageConnectHandler({ store, auth, logger, corsOrigins: config.corsOrigins }) };
}
