import { Broker, type ExchangeOpener, RemoteExchangeOpener, createRelayService } from '@st/broker';
import { Gateway } from '@st/gateway';
import { GrpcServerHost } from '@st/grpc-kit';
import type { Logger } from '@st/logging';
import { RelayServiceService, TunnelServiceService } from '@st/proto';
import { SqliteStore, type Store } from '@st/store';
import type { ServerConfig } from './server-config';
import { loadOrCreateServiceToken } from './service-token';

/**
 * The control plane of one process: the roles it was asked for, wired to one store. With every
 * role in one process the gateway calls the broker directly (no gRPC hop to itself); a gateway
 * alone reaches its broker through RelayService.
 */
export class ControlPlane {
  private constructor(
    readonly config: ServerConfig,
    readonly store: Store,
    readonly broker: Broker | undefined,
    readonly gateway: Gateway | undefined,
    readonly grpc: GrpcServerHost | undefined,
    readonly grpcPort: number | undefined,
    readonly httpPort: number | undefined,
    readonly publicUrl: string,
    private readonly remote: RemoteExchangeOpener | undefined,
    private readonly logger: Logger,
  ) {}

  static async start(config: ServerConfig, logger: Logger): Promise<ControlPlane> {
    const store = SqliteStore.open({ dataDir: config.dataDir, logger });
    const serviceToken = loadOrCreateServiceToken(config.dataDir, config.serviceToken);
    const roles = new Set(config.role);
    let broker: Broker | undefined;
    let grpcHost: GrpcServerHost | undefined;
    let grpcPort: number | undefined;
    let gateway: Gateway | undefined;
    let httpPort: number | undefined;
    let remote: RemoteExchangeOpener | undefined;
    try {
      if (roles.has('broker')) {
        broker = new Broker({
          authenticator: store,
          logger: logger.child({ role: 'broker' }),
          brokerId: `st-server@${config.host}:${config.grpcPort}`,
        });
        grpcHost = new GrpcServerHost({ logger });
        grpcHost.addService('sessiontunnel.v1.TunnelService', TunnelServiceService, broker.tunnelService);
        grpcHost.addService('sessiontunnel.v1.RelayService', RelayServiceService, createRelayService(broker, serviceToken, logger));
        grpcPort = await grpcHost.listen(config.host, config.grpcPort);
        broker.brokerId = `st-server@${config.host}:${grpcPort}`;
      }
      if (roles.has('gateway')) {
        let opener: ExchangeOpener | undefined = broker;
        if (!opener) {
          if (!config.brokerAddress) throw new Error('a gateway without the broker role needs ST_BROKER_ADDRESS (host:port of the broker)');
          opener = remote = new RemoteExchangeOpener({ address: config.brokerAddress, serviceToken });
        }
        gateway = new Gateway({
          store,
          opener,
          logger: logger.child({ role: 'gateway' }),
          maxBodyBytes: config.maxBodyBytes,
          firstByteTimeoutMs: config.firstByteTimeoutMs,
          idleTimeoutMs: config.idleTimeoutMs,
        });
        httpPort = await gateway.listen(config.host, config.httpPort);
      }
    } catch (err) {
      await grpcHost?.shutdown(0);
      await store.close();
      throw err;
    }
    const publicUrl = config.publicUrl || `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${httpPort ?? config.httpPort}`;
    return new ControlPlane(config, store, broker, gateway, grpcHost, grpcPort, httpPort, publicUrl, remote, logger);
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
