import type { Socket } from 'node:net';
import type { Logger } from '@st/logging';
import { H2_ERROR } from './h2-errors';
import { FLAG, FRAME, type FrameReader, encodeFrame, encodeGoaway, encodePing, encodeRstStream, encodeSettings, encodeWindowUpdate } from './h2-frames';
import type { HpackDecoder } from './hpack-decoder';
import { encodeHeaderBlock } from './hpack-encoder';
import type { LightLimits } from './light-limits';
import type { LightStream, StreamOwner } from './light-stream';
import { RateBudget } from './rate-budget';
import { HeaderBlockAssembler } from './header-block-assembler';
import { type KeepaliveActions, LightKeepalive } from './light-keepalive';
import { headerFrames } from './header-frames';
import { SocketWriter } from './socket-writer';
import { DataScheduler } from './data-scheduler';
import { ReceiveWindows } from './receive-windows';

const ENDPOINT = Symbol('light HTTP/2 endpoint');
type OwnedSocket = Socket & { [ENDPOINT]: H2EndpointBase };

function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[ENDPOINT].onChunk(chunk);
}
function onSocketDrain(this: OwnedSocket): void {
  this[ENDPOINT].onSocketDrain();
}
function onSocketClose(this: OwnedSocket): void {
  this[ENDPOINT].onSocketClose();
}
function onSocketError(this: OwnedSocket, err: Error): void {
  this[ENDPOINT].logSocketError(err);
}

/** The bounds both ends of a light connection keep (light-limits.ts has the server's values). */
export type EndpointLimits = Pick<
  LightLimits,
  | 'initialStreamWindow'
  | 'maxHeaderBlockBytes'
  | 'resetsPerSecond'
  | 'resetBurst'
  | 'settingsPerSecond'
  | 'settingsBurst'
  | 'uselessFramesPerSecond'
  | 'uselessFrameBurst'
  | 'keepaliveTimeMs'
  | 'keepaliveTimeoutMs'
  | 'maxWriteBufferBytes'
  | 'dataWriteHighWater'
  | 'streamHighWater'
>;

/** Whether the peer's PINGs are welcome, and forgiveness when we send HEADERS or DATA (ping-policy.ts). */
export interface PeerPingPolicy {
  allow(now: number): boolean;
  forgive(): void;
}

export interface H2EndpointOptions {
  socket: Socket;
  reader: FrameReader;
  decoder: HpackDecoder;
  limits: EndpointLimits;
  pings: PeerPingPolicy;
  logger: Logger;
  now?: () => number;
  /** Our SETTINGS already sent and not acknowledged (the server's sniffer sent an empty one). */
  settingsUnacked?: number;
  /** "server" or "client": who we are, in messages. */
  role: 'server' | 'client';
}

/**
 * What both ends of a light HTTP/2 connection share, writing side: the socket and its listeners,
 * one corked write per tick (socket-writer.ts), both directions of flow control (data-scheduler.ts,
 * receive-windows.ts), keepalive PINGs and the SETTINGS timeout, RST_STREAM, GOAWAY on a
 * connection error, and closing. h2-endpoint.ts adds the reading side; the server
 * (light-connection.ts) and the client (light-client-connection.ts) what they differ in.
 */
export abstract class H2EndpointBase implements StreamOwner, KeepaliveActions {
  protected readonly socket: Socket;
  protected readonly logger: Logger;
  protected readonly now: () => number;
  protected readonly reader: FrameReader;
  protected readonly decoder: HpackDecoder;
  protected readonly streams = new Map<number, LightStream>();
  protected readonly data: DataScheduler;
  protected readonly block: HeaderBlockAssembler;
  protected readonly keepalive: LightKeepalive;
  protected readonly windows: ReceiveWindows;
  protected readonly writer: SocketWriter;
  protected readonly pings: PeerPingPolicy;
  protected readonly role: 'server' | 'client';
  protected peerInitialWindow = 65_535;
  protected draining = false;
  protected closed = false;
  private closeReported = false;
  /** Our SETTINGS frames the peer has not acknowledged yet. */
  protected settingsUnacked: number;
  /** SETTINGS were unacknowledged at the last keepalive PING already. */
  private settingsDue = false;
  protected readonly resets: RateBudget;
  protected readonly settingsBudget: RateBudget;
  protected readonly useless: RateBudget;

  constructor(options: H2EndpointOptions) {
    const l = options.limits;
    this.socket = options.socket;
    this.writer = new SocketWriter(options.socket, l.maxWriteBufferBytes);
    this.reader = options.reader;
    this.decoder = options.decoder;
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
    this.role = options.role;
    this.pings = options.pings;
    this.settingsUnacked = options.settingsUnacked ?? 0;
    this.windows = new ReceiveWindows(l.initialStreamWindow);
    this.block = new HeaderBlockAssembler(l.maxHeaderBlockBytes);
    const now = this.now();
    this.resets = new RateBudget(l.resetsPerSecond, l.resetBurst, now);
    this.settingsBudget = new RateBudget(l.settingsPerSecond, l.settingsBurst, now);
    this.useless = new RateBudget(l.uselessFramesPerSecond, l.uselessFrameBurst, now);
    this.data = new DataScheduler(this.writer, l.dataWriteHighWater, this.pings);
    this.keepalive = new LightKeepalive(l.keepaliveTimeMs, l.keepaliveTimeoutMs, this);
  }

  /** Module-level listeners that find the endpoint on the socket: no closures per connection. */
  protected listen(): void {
    (this.socket as OwnedSocket)[ENDPOINT] = this;
    this.socket.on('data', onSocketData);
    this.socket.on('drain', onSocketDrain);
    this.socket.on('error', onSocketError);
    this.socket.on('close', onSocketClose);
  }

  /** "address:port" of the peer, as grpc-js's call.getPeer() gives it. */
  get peer(): string {
    const { remoteAddress, remotePort } = this.socket;
    if (!remoteAddress) return 'unknown';
    return remotePort ? `${remoteAddress}:${remotePort}` : remoteAddress;
  }

  get openStreams(): number {
    return this.streams.size;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Ends every stream and the socket at once. */
  destroy(reason: string): void {
    if (this.closed) return;
    this.logger.debug({ reason, peer: this.peer }, 'light HTTP/2 connection destroyed');
    this.closed = true;
    this.abortAll(H2_ERROR.CANCEL, reason);
    this.socket.destroy();
    this.reportClose();
  }

  // ---- what the roles differ in ------------------------------------------------------------

  /** @internal (socket listener) Bytes from the peer. */
  abstract onChunk(chunk: Buffer): void;
  /** Our END_STREAM is out. */
  abstract localClosed(stream: LightStream): void;
  /** The last stream id our GOAWAY names (the peer's streams we processed). */
  protected abstract get goawayLastStreamId(): number;
  /** The socket is gone and every stream was told. */
  protected onClosed(): void {
    // Nothing by default: the server tells its LightGrpcServer, the client its call.
  }

  // ---- KeepaliveActions ----------------------------------------------------------------------

  ping(opaque: Buffer): void {
    // A keepalive interval is far longer than any peer needs to acknowledge SETTINGS (RFC 9113 §6.5.3).
    if (this.settingsUnacked > 0 && this.settingsDue) {
      this.fail(H2_ERROR.SETTINGS_TIMEOUT, 'our SETTINGS were not acknowledged');
      return;
    }
    this.settingsDue = this.settingsUnacked > 0;
    this.write(encodePing(false, opaque));
  }

  timedOut(): void {
    this.destroy('the peer did not answer our keepalive PING in time');
  }

  // ---- StreamOwner -------------------------------------------------------------------------

  schedule(stream: LightStream): void {
    this.data.schedule(stream);
  }

  sendHeaders(stream: LightStream, headers: ReadonlyArray<readonly [string, string]>, endStream: boolean): void {
    if (this.closed) return;
    this.pings.forgive();
    for (const frame of headerFrames(stream.id, encodeHeaderBlock(headers), endStream, this.data.maxFrameSize)) this.write(frame);
  }

  sendEndStream(stream: LightStream): void {
    if (!this.closed) this.write(encodeFrame(FRAME.DATA, FLAG.END_STREAM, stream.id));
  }

  resetStream(stream: LightStream, code: number): void {
    if (stream.reset) return;
    if (!this.closed) this.write(encodeRstStream(stream.id, code));
    this.forget(stream);
    stream.abort(code, `the ${this.role} reset the stream`);
  }

  consumed(stream: LightStream, bytes: number): void {
    this.creditConnection(bytes);
    if (stream.remoteClosed || stream.reset || this.closed) return;
    const increment = this.windows.creditStream(stream, bytes);
    if (increment > 0) this.write(encodeWindowUpdate(stream.id, increment));
  }

  protected creditConnection(bytes: number): void {
    if (this.closed) return;
    const increment = this.windows.creditConnection(bytes);
    if (increment > 0) this.write(encodeWindowUpdate(0, increment));
  }

  // ---- writing -------------------------------------------------------------------------------

  protected write(buffer: Buffer): void {
    this.writer.write(buffer);
  }

  /** Sends our SETTINGS (counted until the peer acknowledges them). */
  protected sendSettings(settings: ReadonlyArray<readonly [id: number, value: number]>): void {
    this.settingsUnacked++;
    this.write(encodeSettings(settings));
  }

  /** @internal (socket listener) */
  onSocketDrain(): void {
    if (!this.closed) this.writer.drained();
    this.data.pump();
  }

  // ---- closing -------------------------------------------------------------------------------

  protected forget(stream: LightStream): void {
    this.streams.delete(stream.id);
    this.data.forget(stream);
    if (this.draining && this.streams.size === 0) this.endSocket();
  }

  /** Connection error: GOAWAY with `code`, every stream ended, the socket closed once written. */
  protected fail(code: number, message: string): void {
    if (this.closed) return;
    this.logger.info({ peer: this.peer, code, reason: message }, 'light HTTP/2 connection closed with GOAWAY');
    this.write(encodeGoaway(this.goawayLastStreamId, code, message));
    this.closed = true;
    this.abortAll(code, `connection error: ${message}`);
    this.endSocket();
  }

  protected endSocket(): void {
    this.keepalive.stop();
    // Reading goes on (and is discarded) until the peer closes too: closing with unread bytes
    // would make the kernel send RST and the peer might never see our GOAWAY.
    this.writer.resumeReading(true);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 5_000).unref();
  }

  protected abortAll(code: number, reason: string): void {
    const streams = [...this.streams.values()];
    this.streams.clear();
    this.data.stop();
    for (const stream of streams) stream.abort(code, reason);
  }

  /** @internal (socket listener) */
  logSocketError(err: Error): void {
    this.logger.debug({ err: err.message, peer: this.peer }, 'light HTTP/2 connection: socket error');
  }

  /** @internal (socket listener) */
  onSocketClose(): void {
    this.keepalive.stop();
    this.closed = true;
    this.abortAll(H2_ERROR.CANCEL, 'the connection was lost');
    this.reportClose();
  }

  protected reportClose(): void {
    if (this.closeReported) return;
    this.closeReported = true;
    this.keepalive.stop();
    this.onClosed();
  }
}
