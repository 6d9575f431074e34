import { connect as netConnect, isIP } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '@st/logging';
import { LightClientCall, type LightClientCodec } from './h2/grpc-light-client-call';
import { LightClientConnection } from './h2/light-client-connection';
import { DEFAULT_CLIENT_LIMITS, type LightClientLimits } from './h2/light-client-limits';

/** Where a light client dials, and how. */
export interface LightClientTarget {
  /** Host name or IP literal (IPv6 without brackets). */
  host: string;
  port: number;
  /** TLS with ALPN h2, verified against `ca` (that CA alone) or Node's bundled CAs when absent. */
  tls?: { ca?: Buffer };
  /** :authority (default host:port). */
  authority?: string;
}

export interface LightCallOptions<Req, Res> {
  target: LightClientTarget;
  /** `/package.Service/Method`. */
  path: string;
  metadata: grpc.Metadata;
  codec: LightClientCodec<Req, Res>;
  userAgent: string;
  logger: Logger;
  limits?: LightClientLimits;
}

/** One call on a connection of its own; `close` ends both (the agent's Connect: one stream per connection). */
export interface LightCallHandle<Req, Res> {
  call: LightClientCall<Req, Res>;
  close(): void;
}

/**
 * Opens a bidirectional-streaming gRPC call on a light HTTP/2 connection of its own (plain TCP,
 * or TLS with ALPN h2): the agent's TunnelService/Connect without grpc-js and nghttp2 (issue 9).
 * The call is usable at once: what is written before the socket connects waits in it.
 */
export function openLightCall<Req, Res>(options: LightCallOptions<Req, Res>): LightCallHandle<Req, Res> {
  const { target, logger } = options;
  const limits = options.limits ?? DEFAULT_CLIENT_LIMITS;
  const socket = target.tls
    ? tlsConnect({
        host: target.host,
        port: target.port,
        ca: target.tls.ca,
        // SNI takes names only; an IP literal is checked against the certificate's IP SANs.
        servername: isIP(target.host) ? undefined : target.host,
        ALPNProtocols: ['h2'],
      })
    : netConnect({ host: target.host, port: target.port });
  socket.setNoDelay(true);
  const connection = new LightClientConnection({ socket, limits, logger });
  const call = new LightClientCall<Req, Res>(options.codec, connection, limits.maxReceiveMessageBytes);
  if (target.tls) {
    socket.once('secureConnect', () => {
      const alpn = (socket as TLSSocket).alpnProtocol;
      if (alpn !== 'h2') socket.destroy(new Error(`the broker's TLS port did not agree to HTTP/2 (ALPN ${alpn || 'none'}): is it a gRPC port?`));
    });
  }
  const authority = target.authority ?? `${isIP(target.host) === 6 ? `[${target.host}]` : target.host}:${target.port}`;
  const headers: Array<[string, string]> = [
    [':method', 'POST'],
    [':scheme', target.tls ? 'https' : 'http'],
    [':path', options.path],
    [':authority', authority],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
    ['user-agent', options.userAgent],
    ['grpc-accept-encoding', 'identity'],
  ];
  for (const [name, value] of Object.entries(options.metadata.toHttp2Headers())) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.push([name, String(v)]);
  }
  call.attach(connection.openStream(headers));
  // One call per connection: once it is over the connection goes too.
  call.once('close', () => connection.close());
  return {
    call,
    close: () => {
      call.cancel();
      connection.destroy('the client closed the call');
    },
  };
}
