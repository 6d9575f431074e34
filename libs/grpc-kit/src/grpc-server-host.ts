import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from '@st/logging';
import { SERVER_KEEPALIVE_OPTIONS, MESSAGE_SIZE_OPTIONS, SERVER_MAX_RECEIVE_MESSAGE_BYTES } from './channel-options';
import { applyServerWindows } from './http2-windows';
import { ReflectionServer } from './reflection';

/** Options for {@link GrpcServerHost}. */
export interface GrpcServerHostOptions {
  logger: Logger;
  /** Extra grpc-js server options, merged over the defaults. */
  serverOptions?: grpc.ServerOptions;
}

/**
 * One grpc-js server with the hygiene every server of ours must have: server reflection and
 * grpc.health.v1 (so `grpcurl`/`buf curl` work against it), keepalive that notices dead peers,
 * and a shutdown that never hangs on a stuck stream.
 */
export class GrpcServerHost {
  readonly server: grpc.Server;
  readonly health: HealthImplementation;
  private readonly logger: Logger;
  private readonly serviceNames: string[] = [];
  private boundPort: number | undefined;

  constructor(options: GrpcServerHostOptions) {
    this.logger = options.logger;
    this.server = new grpc.Server({
      ...SERVER_KEEPALIVE_OPTIONS,
      ...MESSAGE_SIZE_OPTIONS,
      'grpc.max_receive_message_length': SERVER_MAX_RECEIVE_MESSAGE_BYTES,
      ...options.serverOptions,
    });
    // Windows for a long fat link (http2-windows.ts); grpc-js's server ignores its own option for it.
    if (!applyServerWindows(this.server)) {
      this.logger.warn(
        'this grpc-js no longer has the createHttp2Server method that st-server wraps to open its HTTP/2 windows: they stay at 64 KiB and far-away agents are slow; pin @grpc/grpc-js to 1.14 or update libs/grpc-kit/src/http2-windows.ts',
      );
    }
    // NOT_SERVING until listen() succeeds: a load balancer must not send traffic before that.
    this.health = new HealthImplementation({ '': 'NOT_SERVING' });
    this.health.addToServer(this.server);
    new ReflectionServer(() => ['grpc.health.v1.Health', ...this.serviceNames]).addToServer(this.server);
  }

  /** Adds a service; `fullName` ("sessiontunnel.v1.TunnelService") gets its own health entry. */
  addService<I extends grpc.UntypedServiceImplementation>(
    fullName: string,
    definition: grpc.ServiceDefinition<I>,
    implementation: I,
  ): void {
    this.server.addService(definition, implementation);
    this.serviceNames.push(fullName);
    this.health.setStatus(fullName, 'NOT_SERVING');
  }

  /** Binds host:port (0 = a free port; plaintext unless `credentials` say TLS) and marks every service SERVING. */
  async listen(host: string, port: number, credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(address, credentials, (err, bound) => (err ? reject(bindError(address, err)) : resolve(bound)));
    });
    this.setServing(true);
    this.logger.info({ address: `${host}:${this.boundPort}`, tls: credentials._isSecure(), services: this.serviceNames }, 'gRPC server listening');
    return this.boundPort;
  }

  get port(): number | undefined {
    return this.boundPort;
  }

  setServing(serving: boolean): void {
    const status = serving ? 'SERVING' : 'NOT_SERVING';
    this.health.setStatus('', status);
    for (const name of this.serviceNames) this.health.setStatus(name, status);
  }

  /**
   * Stops taking calls, waits up to `graceMs` for open calls to end, then cancels the rest.
   * Long-lived agent streams never end by themselves, so the force step is what bounds shutdown.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.setServing(false);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

function bindError(address: string, err: Error): Error {
  const busy = /EADDRINUSE|address already in use/i.test(err.message);
  return new Error(
    busy
      ? `cannot listen for gRPC on ${address}: the port is in use. Stop the other process or choose another port (ST_GRPC_PORT).`
      : `cannot listen for gRPC on ${address}: ${err.message}`,
    { cause: err },
  );
}
