import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from '@st/logging';
import { SERVER_KEEPALIVE_OPTIONS, MESSAGE_SIZE_OPTIONS, SERVER_MAX_RECEIVE_MESSAGE_BYTES } from './channel-options';
import { ReflectionServer } from './reflection';
import { type PeerCall, SessionWindows } from './session-windows';
import { sniffConnection } from './h2/connection-sniffer';
import { prepareHuffmanDecoder } from './h2/hpack-huffman';
import { LightServerCall, type LightMethodCodec } from './h2/grpc-light-call';
import { LightGrpcServer, type LightStreamingHandler } from './h2/light-grpc-server';

/** Connections the kernel queues for accept() (see GrpcServerHost.listen). */
export const LISTEN_BACKLOG = 4096;
/** New connections handed to grpc-js per event-loop turn (see GrpcServerHost.listen). */
const INJECT_PER_TURN = 64;

/** Options for {@link GrpcServerHost}. */
export interface GrpcServerHostOptions {
  logger: Logger;
  /** Extra grpc-js server options, merged over the defaults. */
  serverOptions?: grpc.ServerOptions;
  /**
   * Serves the methods added with addLightStreamingMethod on the light HTTP/2 stack (h2/) for
   * plaintext connections whose first call is one of them (default true; ST_LIGHT_AGENT_STREAMS).
   */
  lightStreams?: boolean;
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
  private listener: Server | undefined;
  private readonly windows = new SessionWindows();
  private readonly light: LightGrpcServer;
  private readonly lightStreams: boolean;
  /** Connections whose first request is not read yet (connection-sniffer.ts); closed at shutdown. */
  private readonly sniffing = new Set<Socket>();

  constructor(options: GrpcServerHostOptions) {
    this.logger = options.logger;
    this.lightStreams = options.lightStreams ?? true;
    this.light = new LightGrpcServer(this.logger.child({ component: 'light-h2' }));
    this.server = new grpc.Server({
      ...SERVER_KEEPALIVE_OPTIONS,
      ...MESSAGE_SIZE_OPTIONS,
      'grpc.max_receive_message_length': SERVER_MAX_RECEIVE_MESSAGE_BYTES,
      // Nothing reads channelz (no admin service is served), yet with it on grpc-js keeps a
      // tracker and two Dates per connection and registers every socket in a global table:
      // memory each of 10,000 idle agent connections pays for nothing.
      'grpc.enable_channelz': 0,
      ...options.serverOptions,
    });
    // Windows for a long fat link, opened per connection by widenWindows (session-windows.ts).
    if (!this.windows.attach(this.server)) {
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

  /**
   * Also serves the bidirectional-streaming `path` ("/sessiontunnel.v1.TunnelService/Connect") on
   * the light HTTP/2 stack: a plaintext connection whose first request is on `path` is taken from
   * grpc-js and costs a few KB instead of a node:http2 session's ~26 KB (issue 9: 10,000 idle
   * agents). The method must also be added to grpc-js with addService: a call that comes on a
   * connection that began with another one, and every TLS connection, is served there.
   */
  addLightStreamingMethod<Req, Res>(path: string, handler: LightStreamingHandler<Req, Res>, codec: LightMethodCodec<Req, Res>): void {
    this.light.addMethod(path, handler, codec);
  }

  /** Connections the light stack holds (for metrics and tests). */
  get lightConnections(): number {
    return this.light.openConnections;
  }

  /**
   * Binds host:port (0 = a free port; plaintext unless `credentials` say TLS) and marks every
   * service SERVING. The socket is our own `net.Server`, its connections handed to grpc-js through
   * a connection injector, because grpc-js listens with Node's default backlog of 511: when 10,000
   * agents redial a restarted broker at once, the kernel drops the connections beyond it and their
   * SYNs are retried 1, 3, 7, 15 s later, so dials outlast the agents' Welcome deadline and the
   * work spent on them is lost (issue 9's reconnect storm). LISTEN_BACKLOG is capped by the
   * kernel's net.core.somaxconn (4096 by default since Linux 5.4).
   */
  async listen(host: string, port: number, credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    const injector = this.server.createConnectionInjector(credentials);
    // A storm's connections are accepted at once, but each HTTP/2 session costs the event loop
    // a few hundred µs to set up: they are handed to grpc-js INJECT_PER_TURN per turn, so that
    // requests already being served interleave with them instead of waiting out thousands.
    // Light connections (their call handler, the agent's admission) are paced the same way.
    const pending: Array<() => void> = [];
    const injectSome = () => {
      for (let i = 0; i < INJECT_PER_TURN && pending.length > 0; i++) pending.shift()!();
      if (pending.length > 0) setImmediate(injectSome);
    };
    const later = (job: () => void) => {
      if (pending.push(job) === 1) setImmediate(injectSome);
    };
    const toGrpcJs = (socket: Socket) => later(() => socket.destroyed || injector.injectConnection(socket));
    // The light stack speaks plaintext HTTP/2 only: TLS connections all go to grpc-js.
    const sniff = this.lightStreams && !credentials._isSecure();
    // The HPACK Huffman table is built now, not on the first agent's turn of the event loop.
    if (sniff && this.light.hasMethods) prepareHuffmanDecoder();
    // TCP_NODELAY, as grpc-js's clients set on their side: a small frame (an Open, a Pong, a
    // Credit) written while an earlier one is unacknowledged must not wait for the peer's
    // delayed ACK (Nagle), which a request/response stream meets on every quiet spell.
    const listener = createServer({ noDelay: true }, (socket) => {
      if (!sniff || !this.light.hasMethods) return toGrpcJs(socket);
      this.sniffing.add(socket);
      const decided = () => this.sniffing.delete(socket);
      socket.once('close', decided);
      sniffConnection(socket, {
        wants: (path) => this.light.serves(path),
        light: (s, sniffed) => {
          decided();
          later(() => s.destroyed || this.light.adopt(s, sniffed));
        },
        fallback: (s) => {
          decided();
          toGrpcJs(s);
        },
      });
    });
    await new Promise<void>((resolve, reject) => {
      listener.once('error', (err) => reject(bindError(address, err)));
      listener.listen({ host, port, backlog: LISTEN_BACKLOG }, () => resolve());
    });
    this.listener = listener;
    this.boundPort = (listener.address() as AddressInfo).port;
    this.setServing(true);
    this.logger.info({ address: `${host}:${this.boundPort}`, tls: credentials._isSecure(), services: this.serviceNames }, 'gRPC server listening');
    return this.boundPort;
  }

  /**
   * Opens the large HTTP/2 windows (http2-windows.ts) on the connection that carries `call`: for
   * the services that know their peer, once it is (an agent's Connect admitted, a gateway's
   * service token checked). Until then the connection keeps Node's 64 KiB windows, so a peer that
   * has not shown a token cannot make this process hold megabytes per stream it opens.
   */
  widenWindows(call: PeerCall): void {
    if (call instanceof LightServerCall) call.widenWindows();
    else this.windows.widen(call);
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
   * Closes the listening socket; the connections already open keep working. Called first when
   * stopping: a draining broker's agents all redial at once, and a refused TCP connect costs
   * nothing, where each call answered "shutting down" costs an HTTP/2 session and a stream
   * (10,000 of them delayed the exit by seconds).
   */
  stopListening(): void {
    this.listener?.close();
    this.listener = undefined;
  }

  /**
   * Stops taking calls, waits up to `graceMs` for open calls to end, then cancels the rest.
   * Long-lived agent streams never end by themselves, so the force step is what bounds shutdown.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.setServing(false);
    this.stopListening();
    for (const socket of this.sniffing) socket.destroy();
    this.sniffing.clear();
    const light = this.light.shutdown(graceMs);
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
    await light;
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
