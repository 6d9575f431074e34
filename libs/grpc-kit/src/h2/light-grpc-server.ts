import type { Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '@st/logging';
import { type LightMethodCodec, LightServerCall } from './grpc-light-call';
import { statusHeaders } from './grpc-status-headers';
import { LightConnection, type StreamOpen } from './light-connection';
import { DEFAULT_LIGHT_LIMITS, type LightLimits } from './light-limits';
import type { LightStream } from './light-stream';
import type { SniffedConnection } from './connection-sniffer';

/** A bidirectional-streaming method's implementation on the light stack. */
export type LightStreamingHandler<Req, Res> = (call: LightServerCall<Req, Res>) => void;

interface LightMethod {
  handler: LightStreamingHandler<unknown, unknown>;
  codec: LightMethodCodec<unknown, unknown>;
}

/** Request headers that are the transport's, not the application's metadata (as grpc-js removes them). */
const NOT_METADATA = new Set(['te', 'content-type', 'grpc-encoding', 'grpc-accept-encoding', 'accept-encoding', 'grpc-timeout']);

/**
 * gRPC over the light HTTP/2 connections (light-connection.ts), for the few bidirectional
 * streaming methods registered here (the broker's TunnelService/Connect). GrpcServerHost's
 * connection sniffer hands it the connections whose first call is one of them; every other
 * connection stays with grpc-js on the same port.
 */
export class LightGrpcServer {
  private readonly methods = new Map<string, LightMethod>();
  private readonly connections = new Set<LightConnection>();
  private closing = false;

  constructor(
    private readonly logger: Logger,
    private readonly limits: LightLimits = DEFAULT_LIGHT_LIMITS,
  ) {}

  addMethod<Req, Res>(path: string, handler: LightStreamingHandler<Req, Res>, codec: LightMethodCodec<Req, Res>): void {
    this.methods.set(path, { handler, codec } as unknown as LightMethod);
  }

  get hasMethods(): boolean {
    return this.methods.size > 0;
  }

  /** True when a connection whose first call is on `path` belongs here. */
  serves(path: string | undefined): boolean {
    return !this.closing && path !== undefined && this.methods.has(path);
  }

  get openConnections(): number {
    return this.connections.size;
  }

  /** Takes over a sniffed connection (its socket and what was read from it). */
  adopt(socket: Socket, sniffed: SniffedConnection): LightConnection {
    const connection = new LightConnection({
      socket,
      reader: sniffed.reader,
      decoder: sniffed.decoder,
      frames: sniffed.frames,
      firstBlock: sniffed.firstBlock,
      limits: this.limits,
      logger: this.logger,
      onStream: this.streamOpened,
      onClose: this.connectionClosed,
    });
    this.connections.add(connection);
    connection.start();
    if (connection.isClosed) this.connections.delete(connection);
    return connection;
  }

  /** GOAWAY on every connection: no new calls; open ones finish. */
  drain(): void {
    this.closing = true;
    for (const connection of this.connections) connection.drain();
  }

  /** Resolves once every connection closed, or after `graceMs` with the rest destroyed. */
  async shutdown(graceMs: number): Promise<void> {
    this.drain();
    if (this.connections.size === 0) return;
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (this.connections.size === 0) done();
      }, 50);
      const timer = setTimeout(() => {
        for (const connection of [...this.connections]) connection.destroy('server shut down: grace period over');
        done();
      }, graceMs);
      const done = () => {
        clearInterval(check);
        clearTimeout(timer);
        resolve();
      };
    });
  }

  // One of each per server, not per connection.
  private readonly streamOpened = (connection: LightConnection, stream: LightStream, open: StreamOpen): void => this.onStream(connection, stream, open);
  private readonly connectionClosed = (connection: LightConnection): void => void this.connections.delete(connection);

  private onStream(connection: LightConnection, stream: LightStream, open: StreamOpen): void {
    if (open.oversize) {
      return void stream.end(statusHeaders(grpc.status.RESOURCE_EXHAUSTED, `the request headers are above ${this.limits.maxHeaderListBytes} bytes`, undefined, true));
    }
    const pseudo: Record<string, string> = {};
    const plain: Record<string, string | string[]> = {};
    for (const [name, value] of open.headers) {
      if (name.startsWith(':')) pseudo[name] = value;
      else {
        const existing = plain[name];
        plain[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
      }
    }
    if (pseudo[':method'] !== 'POST') return void stream.end([[':status', '405']]);
    const contentType = plain['content-type'];
    if (typeof contentType !== 'string' || !/^application\/grpc(\+proto)?(;|$)/.test(contentType)) {
      return void stream.end([[':status', '415']]);
    }
    const path = pseudo[':path'];
    const method = path === undefined ? undefined : this.methods.get(path);
    if (!method || path === undefined) {
      const served = [...this.methods.keys()].join(', ');
      // Sent again by the client on a new connection, which grpc-js serves (LightConnection.refuse).
      return connection.refuse(stream, `this connection serves only ${served}; call ${path ?? 'other methods'} on a new connection`);
    }
    if (plain.te !== 'trailers') return this.refuse(stream, grpc.status.INTERNAL, 'the request lacks "te: trailers", which gRPC over HTTP/2 requires');
    const encoding = plain['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      return this.refuse(stream, grpc.status.UNIMPLEMENTED, `grpc-encoding ${String(encoding)} is not supported here: send uncompressed (identity) messages`);
    }
    for (const name of NOT_METADATA) delete plain[name];
    let metadata: grpc.Metadata;
    try {
      metadata = grpc.Metadata.fromHttp2Headers(plain);
    } catch {
      return this.refuse(stream, grpc.status.INTERNAL, 'the request metadata could not be read');
    }
    const call = new LightServerCall(stream, metadata, path, method.codec, connection, this.limits.maxReceiveMessageBytes);
    try {
      method.handler(call);
    } catch (err) {
      this.logger.error({ err, path }, 'a light gRPC handler threw');
      call.emit('error', { code: grpc.status.INTERNAL, details: 'the server failed to handle the call' });
    }
  }

  private refuse(stream: LightStream, code: grpc.status, details: string): void {
    stream.end(statusHeaders(code, details, undefined, true));
  }
}
