import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { H2_ERROR } from './h2-errors';
import { GrpcCallError, GrpcMessageReader } from './grpc-message-reader';
import type { LightStream, LightStreamHandler } from './light-stream';
import { grpcStatusOfHttp, grpcStatusOfReset, readGrpcStatus } from './grpc-client-status';

/** How a light client call turns messages into bytes and back (libs/tunnel-protocol's fast codec). */
export interface LightClientCodec<Req, Res> {
  serialize(message: Req): Buffer;
  deserialize(bytes: Buffer): Res;
}

/** What a light client call asks of its connection. */
export interface LightClientCallConnection {
  /** Why the connection is gone (undefined while it is up). */
  readonly lostReason: string | undefined;
}

/** A status as grpc-js's ServiceError carries it. */
export type LightServiceError = Error & { code: grpc.status; details: string; metadata: grpc.Metadata };

/**
 * A bidirectional-streaming client call on a light connection, shaped like grpc-js's
 * ClientDuplexStream as far as st-agent's AgentConnection uses it: `write(message, callback)`
 * (false until 'drain'), `end()` (half-close), `cancel()`, and 'data', 'end' (an OK status),
 * 'error' (any other status, a ServiceError), 'status' and 'close' events. Messages are decoded
 * from views of the socket's reads; a message split over several DATA frames is copied once.
 */
export class LightClientCall<Req, Res> extends EventEmitter implements LightStreamHandler {
  private readonly reader: GrpcMessageReader;
  private stream: LightStream | undefined;
  private responseStarted = false;
  private done = false;

  constructor(
    private readonly codec: LightClientCodec<Req, Res>,
    private readonly connection: LightClientCallConnection,
    maxReceiveMessageBytes: number,
  ) {
    super();
    this.reader = new GrpcMessageReader(maxReceiveMessageBytes);
  }

  /** The stream that carries the call (set once it is opened). */
  attach(stream: LightStream): void {
    this.stream = stream;
    stream.handler = this;
  }

  /**
   * Queues one message; `callback` runs once it went to the socket (or the call is gone). False
   * when the stream's queue is above its high-water mark: wait for 'drain'.
   */
  write(message: Req, callback?: (error?: Error | null) => void): boolean {
    const stream = this.stream;
    if (this.done || !stream) {
      if (callback) queueMicrotask(() => callback(new Error('write after the call ended')));
      return false;
    }
    const payload = this.codec.serialize(message);
    const prefix = Buffer.allocUnsafe(5);
    prefix[0] = 0;
    prefix.writeUInt32BE(payload.length, 1);
    return stream.write([prefix, payload], callback ? () => callback(null) : undefined);
  }

  /** Half-closes: an empty DATA with END_STREAM once the queued messages are out. */
  end(): void {
    if (!this.done) this.stream?.end(null);
  }

  /** Ends the call at once (RST_STREAM CANCEL), with status CANCELLED as grpc-js does. */
  cancel(): void {
    if (this.done) return;
    this.finish(grpc.status.CANCELLED, 'Cancelled on client');
  }

  /** The call failed before it had a stream (the dial failed). */
  failed(code: grpc.status, details: string): void {
    this.finish(code, details);
  }

  getPeer(): string {
    return 'broker';
  }

  // ---- LightStreamHandler ------------------------------------------------------------------

  onHeaders(headers: Array<[string, string]>, oversize: boolean, endStream: boolean): void {
    if (this.done) return;
    if (oversize) return this.finish(grpc.status.RESOURCE_EXHAUSTED, 'the broker sent response headers above our SETTINGS_MAX_HEADER_LIST_SIZE', H2_ERROR.PROTOCOL_ERROR);
    if (!this.responseStarted) {
      this.responseStarted = true;
      const httpStatus = valueOf(headers, ':status');
      if (httpStatus !== '200') {
        const code = grpcStatusOfHttp(httpStatus);
        return this.finish(code, `the broker answered HTTP status ${httpStatus ?? '(none)'} instead of a gRPC response (is ST_BROKER_URL the broker's gRPC port?)`, H2_ERROR.CANCEL);
      }
      const contentType = valueOf(headers, 'content-type');
      if (contentType === undefined || !/^application\/grpc(\+|;|$)/.test(contentType)) {
        return this.finish(grpc.status.UNKNOWN, `the broker answered content-type ${contentType ?? '(none)'} instead of application/grpc`, H2_ERROR.CANCEL);
      }
      if (!endStream) return;
      // Trailers-only: the status is in these headers.
    } else if (!endStream) {
      return this.finish(grpc.status.INTERNAL, 'the broker sent a second header block that does not end the stream (trailers without END_STREAM)', H2_ERROR.PROTOCOL_ERROR);
    }
    if (!this.reader.idle) return this.finish(grpc.status.INTERNAL, 'the broker ended the stream in the middle of a message');
    const status = readGrpcStatus(headers);
    this.finish(status.code, status.details, H2_ERROR.NO_ERROR, status.metadata, true);
  }

  onData(data: Buffer): void {
    const stream = this.stream!;
    if (this.done) return stream.consume(data.length);
    if (!this.responseStarted) {
      stream.consume(data.length);
      return this.finish(grpc.status.INTERNAL, 'the broker sent DATA before its response HEADERS', H2_ERROR.PROTOCOL_ERROR);
    }
    try {
      this.reader.push(data, (payload) => this.deliver(payload));
    } catch (err) {
      stream.consume(data.length);
      const failure = err instanceof GrpcCallError ? err : new GrpcCallError(grpc.status.INTERNAL, 'a response message could not be read');
      return this.finish(failure.code, failure.details, H2_ERROR.CANCEL);
    }
    // Handled synchronously ('data' listeners run now): the window is given back at once.
    stream.consume(data.length);
  }

  onEnd(): void {
    // END_STREAM on DATA: a gRPC server ends with trailers, so this one ended without a status.
    if (!this.done) this.finish(grpc.status.INTERNAL, 'the broker ended the stream without a gRPC status (no trailers)');
  }

  onReset(code: number, reason: string): void {
    if (this.done) return;
    const lost = this.connection.lostReason;
    if (lost !== undefined) return this.finish(grpc.status.UNAVAILABLE, lost);
    this.finish(grpcStatusOfReset(code), code === H2_ERROR.REFUSED_STREAM ? reason : `Received RST_STREAM with code ${code} (${reason})`);
  }

  onDrain(): void {
    this.emit('drain');
  }

  private deliver(payload: Buffer): void {
    let message: Res;
    try {
      message = this.codec.deserialize(payload);
    } catch {
      throw new GrpcCallError(grpc.status.INTERNAL, 'Failed to parse server response: a message from the broker is not a valid response');
    }
    this.emit('data', message);
  }

  /** Ends the call with a status, once; `reset` is the RST_STREAM code to end our side with. */
  private finish(code: grpc.status, details: string, reset: number = H2_ERROR.CANCEL, metadata = new grpc.Metadata(), remoteEnding = false): void {
    if (this.done) return;
    this.done = true;
    const stream = this.stream;
    // Our side is of no use once the status is known: the stream is reset unless both sides ended.
    if (stream && !stream.reset && !(stream.localClosed && (stream.remoteClosed || remoteEnding))) stream.close(reset);
    const status = { code, details, metadata };
    if (code === grpc.status.OK) this.emit('end');
    else this.emit('error', Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), status) as LightServiceError);
    this.emit('status', status);
    this.emit('close');
  }
}

function valueOf(headers: Array<[string, string]>, name: string): string | undefined {
  for (const [n, v] of headers) if (n === name) return v;
  return undefined;
}
