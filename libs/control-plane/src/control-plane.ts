import { X509Certificate } from 'node:crypto';
import { ServerCredentials } from '@grpc/grpc-js';
import { AdminToken, type AuthDeps } from '@st/auth';
import { type Broker, RemoteExchangeOpener } from '@st/broker';
import { DISCOVERY_CONNECT_PREFIX, type DiscoveryHttpServer, createDiscoveryConnectHandler } from '@st/discovery';
import type { ChangeFeed } from '@st/events';
import { type Gateway, GatewayStoreCache } from '@st/gateway';
import { GrpcServerHost } from '@st/grpc-kit';
import { NO_AGENT_VIEW, type TunnelRuntime } from '@st/live-state';
import type { Logger } from '@st/logging';
import type { MetricsServer } from '@st/metrics';
import { metricsRegistryFor, serveMetrics } from './metrics-role';
import { observeTunnelStatus } from './tunnel-status-gauge';
import { observeWatches } from './watch-gauge';
import { type Store, ensurePrivateDir, openStore, tightenDataDirFiles } from '@st/store';
import { addBrokerRole, brokerListening } from './broker-role';
import { addDiscoveryRole, createDirectory, createDiscoveryHttp, usageConnectMount } from './discovery-role';
import { type GatewayMounts, createBrokerRouter, createGateway } from './gateway-role';
import { type LiveState, openLiveState } from './live-state-wiring';
import type { RoleContext } from './role-context';
import { SecretBox } from './secret-box';
import { type ServerConfig, brokerRelayTarget, loadGrpcTls } from './server-config';
import { isReplica, replicaAdminToken, requireReplicaSecrets } from './replica-secrets';
import { loadOrCreateServiceToken } from './service-token';

/**
 * A gateway with neither the broker in its process nor shared presence knows nothing of agents:
 * it lets the broker decide (no_agent comes back through RelayService) and lists no models on the
 * unified endpoint. Only the legacy split layout without Redis (ST_BROKER_ADDRESS) uses it.
 */
const REMOTE_RUNTIME: TunnelRuntime = {
  viewOf: () => Promise.resolve({ ...NO_AGENT_VIEW, connected: true }),
};

/**
 * The control plane of one process: the roles it was asked for, wired to one store and one change
 * feed. With every role in one process the gateway calls the broker directly (no gRPC hop to
 * itself); a gateway alone reaches its broker through RelayService.
 *
 * Layouts: without ST_REDIS_URL live status exists only in a broker's memory, so a broker process
 * also serves discovery and management (the embedded default and the one-broker split); with it,
 * each role reads and writes shared presence and the broker serves agents and relays only.
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
    readonly live: LiveState,
    /** The gateway's channels to brokers in other processes, closed last. */
    private readonly remote: { close(): void } | undefined,
    private readonly logger: Logger,
    /** The HTTP port of discovery's Connect face when no gateway serves it in this process. */
    readonly discoveryHttpPort: number | undefined = undefined,
    private readonly discoveryHttp: DiscoveryHttpServer | undefined = undefined,
    /** /metrics on ST_METRICS_PORT, when set. */
    readonly metricsServer: MetricsServer | undefined = undefined,
  ) {}

  static async start(config: ServerConfig, logger: Logger): Promise<ControlPlane> {
    const roles = new Set(config.role);
    if (roles.has('discovery') && !roles.has('broker') && !config.redisUrl) {
      throw new Error('ST_ROLE=discovery without the broker role needs ST_REDIS_URL: live status comes from shared presence');
    }
    // Replicas are given their shared secrets; they never make them in their own data directory.
    requireReplicaSecrets(config);
    // 0700 and its files 0600 whatever the umask, with PostgreSQL too (tokens and keys live here);
    // not made at all when nothing is kept there (a read-only container with every secret set).
    if (!config.databaseUrl || !config.serviceToken || !config.secretKey) ensurePrivateDir(config.dataDir, logger);
    const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl, logger });
    const serviceToken = loadOrCreateServiceToken(config.dataDir, config.serviceToken);
    const secrets = SecretBox.load(config.dataDir, config.secretKey);
    tightenDataDirFiles(config.dataDir, logger);
    // The admin digest lives in the store, so replicas sharing a database share the admin token.
    const { admin, created } = await adminTokenOf(config, store, logger);
    const auth: AuthDeps = { store, admin };
    const live = openLiveState(config, logger);
    // The public URL is known before listening unless the HTTP port is chosen by the system.
    let publicUrl = config.publicUrl || urlOf(config.host, config.httpPort);
    const metrics = metricsRegistryFor(config);
    const ctx: RoleContext = { config, store, auth, secrets, serviceToken, live, logger, metrics, get publicUrl() { return publicUrl; } };
    let broker: Broker | undefined;
    let grpcHost: GrpcServerHost | undefined;
    let grpcPort: number | undefined;
    let gateway: Gateway | undefined;
    let httpPort: number | undefined;
    let remote: { close(): void } | undefined;
    let discoveryHttp: DiscoveryHttpServer | undefined;
    let discoveryHttpPort: number | undefined;
    let metricsServer: MetricsServer | undefined;
    try {
      const discoveryHere = roles.has('discovery') || (roles.has('broker') && !config.redisUrl);
      if (roles.has('broker') || discoveryHere) grpcHost = new GrpcServerHost({ logger, lightStreams: config.lightAgentStreams });
      if (roles.has('broker')) broker = addBrokerRole(ctx, grpcHost!);
      // Live status: the broker's own registry when it is the only one, else shared presence.
      const runtime: TunnelRuntime = live.view ?? broker ?? REMOTE_RUNTIME;
      const directory = discoveryHere || live.view ? createDirectory(ctx, runtime) : undefined;
      if (discoveryHere) addDiscoveryRole(ctx, grpcHost!, runtime, directory!);
      if (metrics && discoveryHere) observeTunnelStatus(metrics, store, live.view ? undefined : broker);
      if (metrics && directory) observeWatches(metrics, directory);
      if (grpcHost) {
        grpcPort = await grpcHost.listen(config.host, config.grpcPort, grpcCredentials(config, logger));
        if (broker) await brokerListening(broker, ctx, grpcPort);
      }
      if (roles.has('gateway')) {
        const mounts: GatewayMounts = directory
          ? [{ prefix: DISCOVERY_CONNECT_PREFIX, handler: createDiscoveryConnectHandler({ directory, auth, logger, corsOrigins: config.corsOrigins }) }]
          : [];
        mounts!.push(usageConnectMount(ctx));
        if (live.view) {
          // Shared presence says which broker holds each tunnel's streams: no fixed broker address.
          if (config.brokerAddress) logger.warn('ST_BROKER_ADDRESS is ignored with ST_REDIS_URL: the gateway finds brokers through presence');
          const router = createBrokerRouter(ctx, live.view, broker);
          remote = router;
          gateway = createGateway(ctx, new GatewayStoreCache(store, live.feed), router.opener, runtime, mounts);
        } else if (broker) {
          gateway = createGateway(ctx, new GatewayStoreCache(store, live.feed), broker, runtime, mounts);
        } else {
          if (!config.brokerAddress) throw new Error('a gateway without the broker role needs ST_BROKER_ADDRESS (host:port of the broker)');
          const relay = new RemoteExchangeOpener({ ...brokerRelayTarget(config.brokerAddress, config.brokerCaFile), serviceToken });
          remote = relay;
          gateway = createGateway(ctx, new GatewayStoreCache(store, config.redisUrl ? live.feed : undefined), relay, runtime, mounts);
        }
        httpPort = await gateway.listen(config.host, config.httpPort);
        if (!config.publicUrl) publicUrl = urlOf(config.host, httpPort);
      } else if (roles.has('discovery')) {
        if (!config.publicUrl) {
          logger.warn('ST_PUBLIC_URL is unset: the base URLs discovery reports name no gateway; set it to the gateways\' public URL');
        }
        discoveryHttp = createDiscoveryHttp(ctx, directory!);
        discoveryHttpPort = await discoveryHttp.listen(config.host, config.httpPort);
      }
      if (metrics) metricsServer = await serveMetrics(metrics, config, logger);
    } catch (err) {
      await metricsServer?.close();
      await discoveryHttp?.close(0);
      // Also frees the gateway's limit counters (their Redis connection).
      await gateway?.close(0);
      await grpcHost?.shutdown(0);
      await live.close();
      await store.close();
      throw err;
    }
    return new ControlPlane(config, store, live.feed, broker, gateway, grpcHost, grpcPort, httpPort, publicUrl, created, live, remote, logger, discoveryHttpPort, discoveryHttp, metricsServer);
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
    // New connections are refused from now on (agents redial elsewhere, or here once restarted).
    this.grpc?.stopListening();
    await Promise.all([this.gateway?.close(grace), this.broker?.shutdown(grace), this.discoveryHttp?.close(grace)]);
    await this.grpc?.shutdown(500);
    await this.metricsServer?.close();
    this.remote?.close();
    await this.live.close();
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

/** ST_ADMIN_TOKEN, else the store's; a replica never makes one (replica-secrets.ts). */
async function adminTokenOf(config: ServerConfig, store: Store, logger: Logger): Promise<{ admin: AdminToken; created?: string }> {
  try {
    if (config.adminToken) return { admin: AdminToken.fixed(config.adminToken) };
    if (isReplica(config)) return { admin: await replicaAdminToken(store, config) };
    return await AdminToken.load(store, config.dataDir, { logger });
  } catch (err) {
    await store.close();
    throw err;
  }
}

function urlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
