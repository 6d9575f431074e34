import { X509Certificate } from 'node:crypto';
import { ServerCredentials } from '@grpc/grpc-js';
import { AdminToken, type AuthDeps } from '@st/auth';
import { BOUNDED_TUNNEL_SERVICE, Broker, type ExchangeOpener, RemoteExchangeOpener, createRelayService } from '@st/broker';
import {
  DISCOVERY_CONNECT_PREFIX,
  ProviderDirectory,
  type TunnelRuntime,
  createDiscoveryConnectHandler,
  createDiscoveryGrpcService,
} from '@st/discovery';
import { ChangeFeed } from '@st/events';
import { Gateway, type GatewayStore, GatewayStoreCache } from '@st/gateway';
import { GrpcServerHost } from '@st/grpc-kit';
import type { Logger } from '@st/logging';
import { createSessionService, createTunnelManagerService, createUserService } from '@st/management';
import {
  ProviderDiscoveryServiceService,
  RelayServiceService,
  SessionServiceService,
  TunnelManagerServiceService,
  UserServiceService,
} from '@st/proto';
import { type Store, ensurePrivateDir, openStore, tightenDataDirFiles } from '@st/store';
import { AgentAdmission } from './agent-admission';
import { startRevocation } from './revocation';
import { SecretBox } from './secret-box';
import { type ServerConfig, brokerRelayTarget, loadGrpcTls } from './server-config';
import { loadOrCreateServiceToken } from './service-token';

/**
 * A gateway without the broker in its process knows nothing of agents: it lets the broker decide
 * (no_agent comes back through RelayService) and lists no models on the unified endpoint.
 */
const REMOTE_RUNTIME: TunnelRuntime = {
  isConnected: () => true,
  healthOf: () => undefined,
};

/**
 * The control plane of one process: the roles it was asked for, wired to one store and one change
 * feed. With every role in one process the gateway calls the broker directly (no gRPC hop to
 * itself); a gateway alone reaches its broker through RelayService.
 */
export class ControlPlane {
  private constructor(
    readonly config: ServerConfig,
    readonly store: Store,
    readonly feed: ChangeFeed,
    readonly broker: Broker | undefined,
    readonly gateway: Gateway | undefined,
    readonly grpc: GrpcServerHost | undefined,
    readonly grpcPort: number | undefined,
    readonly httpPort: number | undefined,
    readonly publicUrl: string,
    /** The admin token when this start made it (print it once), else undefined. */
    readonly createdAdminToken: string | undefined,
    private readonly remote: RemoteExchangeOpener | undefined,
    private readonly logger: Logger,
  ) {}

  static async start(config: ServerConfig, logger: Logger): Promise<ControlPlane> {
    // 0700 and its files 0600 whatever the umask, with PostgreSQL too (tokens and keys live here);
    // not made at all when nothing is kept there (a read-only container with every secret set).
    if (!config.databaseUrl || !config.serviceToken || !config.secretKey) ensurePrivateDir(config.dataDir, logger);
    const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl, logger });
    const serviceToken = loadOrCreateServiceToken(config.dataDir, config.serviceToken);
    const secrets = SecretBox.load(config.dataDir, config.secretKey);
    tightenDataDirFiles(config.dataDir, logger);
    // The admin digest lives in the store, so replicas sharing a database share the admin token.
    const { admin, created } = config.adminToken
      ? { admin: AdminToken.fixed(config.adminToken), created: undefined }
      : await AdminToken.load(store, config.dataDir, { logger });
    const auth: AuthDeps = { store, admin };
    const feed = new ChangeFeed();
    feed.onListenerError = (err, event) => logger.error({ err, event }, 'change feed listener failed');
    const roles = new Set(config.role);
    // The public URL is known before listening unless the HTTP port is chosen by the system.
    let publicUrl = config.publicUrl || urlOf(config.host, config.httpPort);
    let broker: Broker | undefined;
    let grpcHost: GrpcServerHost | undefined;
    let grpcPort: number | undefined;
    let gateway: Gateway | undefined;
    let httpPort: number | undefined;
    let remote: RemoteExchangeOpener | undefined;
    const urls = { get publicUrl() { return publicUrl; } };
    try {
      if (roles.has('broker')) {
        broker = new Broker({
          authenticator: new AgentAdmission(store, secrets),
          logger: logger.child({ role: 'broker' }),
          brokerId: `st-server@${config.host}:${config.grpcPort}`,
          session: { healthIntervalMs: config.healthIntervalMs, streamQueueLimitBytes: config.streamQueueLimitBytes },
          maxStreamsPerTunnel: config.maxStreamsPerTunnel,
          onTunnelChange: (tunnelId, userId, change) => feed.publish({ kind: 'tunnel', userId, tunnelId, reason: change }),
        });
        const runtime: TunnelRuntime = broker;
        const directory = new ProviderDirectory({ store, runtime, feed, logger, maxWatchesPerUser: config.maxWatchesPerUser, get publicUrl() { return urls.publicUrl; } });
        const managementDeps = {
          store,
          auth,
          runtime,
          feed,
          seal: (plaintext: string) => secrets.seal(plaintext),
          logger: logger.child({ role: 'management' }),
          get publicUrl() { return urls.publicUrl; },
        };
        startRevocation(feed, store, broker, logger.child({ role: 'revocation' }));
        grpcHost = new GrpcServerHost({ logger });
        grpcHost.addService('sessiontunnel.v1.TunnelService', BOUNDED_TUNNEL_SERVICE, broker.tunnelService);
        grpcHost.addService('sessiontunnel.v1.RelayService', RelayServiceService, createRelayService(broker, serviceToken, logger));
        grpcHost.addService('sessiontunnel.v1.ProviderDiscoveryService', ProviderDiscoveryServiceService, createDiscoveryGrpcService(directory, auth, logger));
        grpcHost.addService('sessiontunnel.v1.UserService', UserServiceService, createUserService(managementDeps));
        grpcHost.addService('sessiontunnel.v1.SessionService', SessionServiceService, createSessionService(managementDeps));
        grpcHost.addService('sessiontunnel.v1.TunnelManagerService', TunnelManagerServiceService, createTunnelManagerService(managementDeps));
        grpcPort = await grpcHost.listen(config.host, config.grpcPort, grpcCredentials(config, logger));
        broker.brokerId = `st-server@${config.host}:${grpcPort}`;
        if (roles.has('gateway')) {
          gateway = ControlPlane.gateway(config, new GatewayStoreCache(store, feed), broker, broker, logger, [
            {
              prefix: DISCOVERY_CONNECT_PREFIX,
              handler: createDiscoveryConnectHandler({ directory, auth, logger, corsOrigins: config.corsOrigins }),
            },
          ]);
        }
      } else if (roles.has('gateway')) {
        if (!config.brokerAddress) throw new Error('a gateway without the broker role needs ST_BROKER_ADDRESS (host:port of the broker)');
        remote = new RemoteExchangeOpener({ ...brokerRelayTarget(config.brokerAddress, config.brokerCaFile), serviceToken });
        gateway = ControlPlane.gateway(config, new GatewayStoreCache(store, undefined), remote, REMOTE_RUNTIME, logger, []);
      }
      if (gateway) {
        httpPort = await gateway.listen(config.host, config.httpPort);
        if (!config.publicUrl) publicUrl = urlOf(config.host, httpPort);
      }
    } catch (err) {
      await grpcHost?.shutdown(0);
      await store.close();
      throw err;
    }
    return new ControlPlane(config, store, feed, broker, gateway, grpcHost, grpcPort, httpPort, publicUrl, created, remote, logger);
  }

  private static gateway(
    config: ServerConfig,
    store: GatewayStore,
    opener: ExchangeOpener,
    runtime: TunnelRuntime,
    logger: Logger,
    mounts: ConstructorParameters<typeof Gateway>[0]['mounts'],
  ): Gateway {
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
      requestLimits: {
        tunnelConcurrency: config.limitTunnelConcurrency,
        userConcurrency: config.limitUserConcurrency,
        userRps: config.limitUserRps,
        userBurst: config.limitUserBurst,
      },
    });
  }

  /** Base URL of a tunnel's OpenAI API. */
  tunnelBaseUrl(tunnelId: string): string {
    return `${this.publicUrl}/t/${tunnelId}/v1`;
  }

  /**
   * Stops within the grace period plus a little: agents are told to reconnect and open answers
   * may finish, then everything left is cut and both ports are freed.
   */
  async stop(): Promise<void> {
    const grace = this.config.shutdownGraceMs;
    this.grpc?.setServing(false);
    await Promise.all([this.gateway?.close(grace), this.broker?.shutdown(grace)]);
    await this.grpc?.shutdown(500);
    this.remote?.close();
    await this.store.close();
    this.logger.info('control plane stopped');
  }
}

/**
 * TLS on the gRPC port when ST_TLS_CERT_FILE and ST_TLS_KEY_FILE are set (agents then dial
 * https://), else plaintext (for a TLS-terminating proxy in front, or local use). No client
 * certificates: agents prove themselves with their tunnel token.
 */
function grpcCredentials(config: ServerConfig, logger: Logger): ServerCredentials {
  const tls = loadGrpcTls(config);
  if (!tls) return ServerCredentials.createInsecure();
  const cert = new X509Certificate(tls.certChain);
  const expiresInMs = Date.parse(cert.validTo) - Date.now();
  const fields = { certFile: config.tlsCertFile, subject: cert.subject, subjectAltName: cert.subjectAltName, validTo: cert.validTo };
  if (expiresInMs <= 0) logger.error(fields, 'the TLS certificate of the gRPC port has expired: agents will refuse it; renew it (ST_TLS_CERT_FILE)');
  else if (expiresInMs < 14 * 24 * 3600_000) logger.warn(fields, 'the TLS certificate of the gRPC port expires within 14 days: renew it (ST_TLS_CERT_FILE)');
  else logger.info(fields, 'TLS on the gRPC port');
  return ServerCredentials.createSsl(null, [{ cert_chain: tls.certChain, private_key: tls.privateKey }], false);
}

function urlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
