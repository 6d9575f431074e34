import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { H2_ERROR } from './h2-errors';
import { GrpcCallError, GrpcMessageReader } from './grpc-message-reader';
import { RESPONSE_HEADERS, statusHeaders } from './grpc-status-headers';
import type { LightStream, LightStreamHandler } from './light-stream';

/** How a light method turns messages into bytes and back (libs/tunnel-protocol's fast codec). */
export interface LightMethodCodec<Req, Res> {
  deserialize(bytes: Buffer): Req;
  serialize(message: Res): Buffer;
}

/** What a light call needs of its connection. */
export interface LightCallConnection {
  readonly peer: string;
  /** Opens the large receive windows of the connection (see LightConnection.widen). */
  widen(): void;
}

interface PendingStatus {
  code: number;
  details: string;
  metadata?: grpc.Metadata;
}

/**
 * A bidirectional-streaming server call on a light connection, shaped like grpc-js's
 * ServerDuplexStream as far as the broker's AgentSession uses it: `write` (false until 'drain'),
 * `end`, `emit('error', {code, details})` to end with a status, 'data' / 'end' / 'cancelled' /
 * 'finish' / 'close' events, `metadata`, `getPeer()`, `pause`/`resume`. An EventEmitter rather
 * than a stream.Duplex: a Duplex and its two buffers cost ~1 KB per idle tunnel.
 */
export class LightServerCall<Req, Res> extends EventEmitter implements LightStreamHandler {
  cancelled = false;
  private readonly reader: GrpcMessageReader;
  private readonly peer: string;
  private pendingStatus: PendingStatus = { code: grpc.status.OK, details: 'OK' };
  private ended = false;
  private closeEmitted = false;
  /** As a Readable: messages wait until a 'data' listener is added (the broker adds it after its token lookup). */
  private paused = true;
  private pausedByUser = false;
  private held: Req[] = [];
  private heldCredit = 0;
  private remoteEnded = false;
  private endEmitted = false;

  constructor(
    private readonly stream: LightStream,
    readonly metadata: grpc.Metadata,
    private readonly path: string,
    private readonly codec: LightMethodCodec<Req, Res>,
    private readonly connection: LightCallConnection,
    maxReceiveMessageBytes: number,
  ) {
    super();
    this.peer = connection.peer;
    this.reader = new GrpcMessageReader(maxReceiveMessageBytes);
    stream.handler = this;
    this.on('newListener', onNewListener);
    // As grpc-js's ServerDuplexStreamImpl: an 'error' emitted by the handler is the status to end with.
    this.on('error', onError);
  }

  /** @internal A 'data' listener was added: flow, unless the handler paused the call. */
  startFlowing(): void {
    if (this.paused && !this.pausedByUser) queueMicrotask(() => this.pausedByUser || this.resume());
  }

  /** @internal An 'error' was emitted: it is the status to end with. */
  failWith(err: StatusLike): void {
    this.pendingStatus = toStatus(err);
    this.end();
  }

  getPeer(): string {
    return this.peer;
  }

  getPath(): string {
    return this.path;
  }

  getDeadline(): number {
    return Infinity;
  }

  /** Opens the large HTTP/2 windows of this call's connection (GrpcServerHost.widenWindows). */
  widenWindows(): void {
    this.connection.widen();
  }

  /** Resets the HTTP/2 stream at once, dropping what is queued (grpc-stream-reset.ts). */
  resetStream(code: number = H2_ERROR.ENHANCE_YOUR_CALM): void {
    this.ended = true;
    this.stream.close(code);
  }

  /** Sends the response HEADERS now, with `metadata` (grpc-js's call.sendMetadata). */
  sendMetadata(metadata: grpc.Metadata): void {
    if (this.stream.headersSent || this.ended) return;
    const extra = statusHeaders(0, '', metadata, false).slice(1);
    this.stream.respond([...RESPONSE_HEADERS, ...extra]);
  }

  /**
   * Queues one message; `callback` runs once it went to the socket (or the call is gone). False
   * when the stream's queue is above its high-water mark: wait for 'drain'.
   */
  write(message: Res, callback?: (error?: Error | null) => void): boolean {
    if (this.ended) {
      if (callback) queueMicrotask(() => callback(new Error('write after the call ended')));
      return false;
    }
    const payload = this.codec.serialize(message);
    const prefix = Buffer.allocUnsafe(5);
    prefix[0] = 0;
    prefix.writeUInt32BE(payload.length, 1);
    if (!this.stream.headersSent) this.stream.respond(RESPONSE_HEADERS);
    return this.stream.write([prefix, payload], callback ? () => callback(null) : undefined);
  }

  /** Ends the call with the pending status (OK unless an 'error' set one), after queued messages. */
  end(metadata?: grpc.Metadata): this {
    if (this.ended) return this;
    this.ended = true;
    const { code, details } = this.pendingStatus;
    const trailers = statusHeaders(code, details, metadata ?? this.pendingStatus.metadata, !this.stream.headersSent);
    this.stream.end(trailers);
    queueMicrotask(() => {
      this.emit('finish');
      this.emitClose();
    });
    return this;
  }

  pause(): this {
    this.paused = true;
    this.pausedByUser = true;
    return this;
  }

  resume(): this {
    this.pausedByUser = false;
    if (!this.paused) return this;
    this.paused = false;
    const held = this.held;
    this.held = [];
    for (const message of held) {
      if (this.paused || this.ended) {
        this.held.push(message);
        continue;
      }
      this.emit('data', message);
    }
    if (this.held.length === 0) {
      const credit = this.heldCredit;
      this.heldCredit = 0;
      this.stream.consume(credit);
      this.maybeEmitEnd();
    }
    return this;
  }

  // ---- LightStreamHandler ------------------------------------------------------------------

  onData(data: Buffer): void {
    if (this.ended) {
      this.stream.consume(data.length);
      return;
    }
    try {
      this.reader.push(data, (payload) => this.deliver(payload));
    } catch (err) {
      this.stream.consume(data.length);
      const failure = err instanceof GrpcCallError ? err : new GrpcCallError(grpc.status.INTERNAL, 'the request could not be read');
      this.emit('error', { code: failure.code, details: failure.details, message: failure.details });
      return;
    }
    // The peer's window is given back once the messages were taken (paused: on resume).
    if (this.paused) this.heldCredit += data.length;
    else this.stream.consume(data.length);
  }

  onEnd(): void {
    this.remoteEnded = true;
    if (!this.reader.idle && !this.ended) {
      this.emit('error', { code: grpc.status.INTERNAL, details: 'the request ended in the middle of a message' });
      return;
    }
    this.maybeEmitEnd();
  }

  onReset(): void {
    if (this.closeEmitted) return;
    if (!this.ended) {
      this.ended = true;
      this.cancelled = true;
      this.emit('cancelled', 'cancelled');
    }
    this.emitClose();
  }

  onDrain(): void {
    this.emit('drain');
  }

  private deliver(payload: Buffer): void {
    let message: Req;
    try {
      message = this.codec.deserialize(payload);
    } catch {
      throw new GrpcCallError(grpc.status.INTERNAL, 'Failed to parse request: the message is not a valid ' + this.path + ' request');
    }
    if (this.paused) this.held.push(message);
    else this.emit('data', message);
  }

  private maybeEmitEnd(): void {
    if (!this.remoteEnded || this.endEmitted || this.paused || this.held.length > 0) return;
    this.endEmitted = true;
    this.emit('end');
  }

  private emitClose(): void {
    if (this.closeEmitted) return;
    this.closeEmitted = true;
    this.emit('close');
  }
}

type StatusLike = Partial<PendingStatus> & { message?: string; metadata?: grpc.Metadata };

function onNewListener(this: LightServerCall<unknown, unknown>, event: string): void {
  if (event === 'data') this.startFlowing();
}

function onError(this: LightServerCall<unknown, unknown>, err: StatusLike): void {
  this.failWith(err);
}

function toStatus(err: StatusLike): PendingStatus {
  const code = typeof err.code === 'number' && Number.isInteger(err.code) ? err.code : grpc.status.UNKNOWN;
  const details = typeof err.details === 'string' ? err.details : (err.message ?? 'Unknown Error');
  return { code, details, metadata: err.metadata };
}
