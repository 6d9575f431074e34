import type { Socket } from 'node:net';
import type { Logger } from '@st/logging';
import { H2ConnectionError, H2_ERROR, H2StreamError } from './h2-errors';
import {
  FLAG,
  FRAME,
  type Frame,
  type FrameReader,
  MAX_WINDOW,
  SETTING,
  dataOf,
  encodeGoaway,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeSettingsAck,
  encodeWindowUpdate,
  headersBlockOf,
  parseSettings,
  parseGoaway,
  parseRstStream,
  parseWindowUpdate,
} from './h2-frames';
import type { DecodedHeaders, HpackDecoder } from './hpack-decoder';
import { encodeHeaderBlock } from './hpack-encoder';
import { DEFAULT_LIGHT_LIMITS, DEFAULT_MAX_FRAME_SIZE, type LightLimits } from './light-limits';
import { LightStream, type StreamOwner } from './light-stream';
import { RateBudget } from './rate-budget';
import { HeaderBlockAssembler } from './header-block-assembler';
import { type KeepaliveActions, LightKeepalive } from './light-keepalive';
import { PingPolicy } from './ping-policy';
import { headerFrames } from './header-frames';
import { SocketWriter } from './socket-writer';
import { DataScheduler } from './data-scheduler';
import { ReceiveWindows } from './receive-windows';

const CONNECTION = Symbol('light connection');
type OwnedSocket = Socket & { [CONNECTION]: LightConnection };

function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[CONNECTION].onChunk(chunk);
}
function onSocketDrain(this: OwnedSocket): void {
  this[CONNECTION].onSocketDrain();
}
function onSocketClose(this: OwnedSocket): void {
  this[CONNECTION].onSocketClose();
}
function onSocketError(this: OwnedSocket, err: Error): void {
  this[CONNECTION].logSocketError(err);
}

/** What a new stream's request HEADERS carried. */
export interface StreamOpen {
  headers: Array<[name: string, value: string]>;
  /** The header list was above SETTINGS_MAX_HEADER_LIST_SIZE (`headers` is then partial). */
  oversize: boolean;
  /** END_STREAM came with the HEADERS. */
  endStream: boolean;
}

export interface LightConnectionOptions {
  socket: Socket;
  /** The sniffer's reader and decoder (connection-sniffer.ts): their state is this connection's. */
  reader: FrameReader;
  decoder: HpackDecoder;
  /** Frames already read, in order; the first complete header block among them is `firstBlock`. */
  frames: Frame[];
  firstBlock: DecodedHeaders;
  /** A client opened a stream; the handler is set on `stream` before this returns. */
  onStream(connection: LightConnection, stream: LightStream, open: StreamOpen): void;
  /** The socket closed (after every stream was told). */
  onClose?(connection: LightConnection): void;
  limits?: LightLimits;
  logger: Logger;
  now?: () => number;
}

/**
 * The server side of one HTTP/2 connection, over a plain net.Socket: frames, SETTINGS, both
 * directions of flow control, PING, GOAWAY and RST_STREAM, and the bounds a public port needs
 * (light-limits.ts). It costs a few KB per idle connection where a node:http2 session costs
 * ~26 KB (nghttp2 allocates a 16 KiB frame buffer per session), which is what lets one broker
 * hold 10,000 idle agents (issue 9). The gRPC layer lives above it (light-grpc-server.ts).
 */
export class LightConnection implements StreamOwner, KeepaliveActions {
  private readonly socket: Socket;
  private readonly limits: LightLimits;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly reader: FrameReader;
  private readonly decoder: HpackDecoder;
  private readonly onStream: LightConnectionOptions['onStream'];
  private readonly onClose: LightConnectionOptions['onClose'];
  private readonly streams = new Map<number, LightStream>();
  private readonly data: DataScheduler;
  private readonly block: HeaderBlockAssembler;
  private readonly keepalive: LightKeepalive;
  private predecoded: DecodedHeaders | undefined;
  private readonly initialFrames: Frame[];
  private lastStreamId = 0;
  private peerInitialWindow = 65_535;
  private readonly windows: ReceiveWindows;
  private readonly writer: SocketWriter;
  private draining = false;
  private closed = false;
  private closeReported = false;
  /** Our SETTINGS frames the peer has not acknowledged yet: the sniffer's empty one, to begin with. */
  private settingsUnacked = 1;
  /** SETTINGS were unacknowledged at the last keepalive PING already. */
  private settingsDue = false;
  private readonly pings: PingPolicy;
  private readonly opens: RateBudget;
  private readonly resets: RateBudget;
  private readonly settingsBudget: RateBudget;
  private readonly useless: RateBudget;

  constructor(options: LightConnectionOptions) {
    this.socket = options.socket;
    const limits = options.limits ?? DEFAULT_LIGHT_LIMITS;
    this.writer = new SocketWriter(options.socket, limits.maxWriteBufferBytes);
    this.reader = options.reader;
    this.decoder = options.decoder;
    this.onStream = options.onStream;
    this.onClose = options.onClose;
    this.limits = options.limits ?? DEFAULT_LIGHT_LIMITS;
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
    this.predecoded = options.firstBlock;
    this.windows = new ReceiveWindows(this.limits.initialStreamWindow);
    this.block = new HeaderBlockAssembler(this.limits.maxHeaderBlockBytes);
    const now = this.now();
    const l = this.limits;
    this.opens = new RateBudget(l.streamOpensPerSecond, l.streamOpenBurst, now);
    this.resets = new RateBudget(l.resetsPerSecond, l.resetBurst, now);
    this.settingsBudget = new RateBudget(l.settingsPerSecond, l.settingsBurst, now);
    this.useless = new RateBudget(l.uselessFramesPerSecond, l.uselessFrameBurst, now);
    this.pings = new PingPolicy(l.minPingIntervalMs, l.maxPingStrikes);
    this.data = new DataScheduler(this.writer, l.dataWriteHighWater, this.pings);
    this.keepalive = new LightKeepalive(l.keepaliveTimeMs, l.keepaliveTimeoutMs, this);
    this.settingsUnacked++;
    this.write(
      encodeSettings([
        [SETTING.MAX_CONCURRENT_STREAMS, l.maxConcurrentStreams],
        [SETTING.INITIAL_WINDOW_SIZE, this.windows.stream],
        [SETTING.MAX_HEADER_LIST_SIZE, l.maxHeaderListBytes],
        [SETTING.ENABLE_PUSH, 0],
      ]),
    );
    // Module-level listeners that find the connection on the socket: no closures per connection
    // (10,000 idle agents pay for every object a connection holds).
    (this.socket as OwnedSocket)[CONNECTION] = this;
    this.socket.on('data', onSocketData);
    this.socket.on('drain', onSocketDrain);
    this.socket.on('error', onSocketError);
    this.socket.on('close', onSocketClose);
    this.initialFrames = options.frames;
  }

  /** Handles the frames the sniffer read, then reads the socket. */
  start(): void {
    // Handled once and let go: the frames are views of the first socket reads.
    const frames = this.initialFrames.splice(0);
    this.handleFrames(frames);
    this.keepalive.start();
    this.writer.resumeReading();
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

  /**
   * Opens the large receive windows (an agent was admitted): SETTINGS_INITIAL_WINDOW_SIZE for
   * every stream, WINDOW_UPDATE for the connection, once (the policy of session-windows.ts).
   */
  widen(): void {
    if (this.closed) return;
    const l = this.limits;
    const grown = this.windows.widen(this.streams.values(), l.widenedStreamWindow, l.widenedConnectionWindow);
    if (!grown) return;
    this.settingsUnacked++;
    this.write(encodeSettings([[SETTING.INITIAL_WINDOW_SIZE, this.windows.stream]]));
    if (grown.connectionIncrement > 0) this.write(encodeWindowUpdate(0, grown.connectionIncrement));
  }

  /** GOAWAY (NO_ERROR): no new streams; the socket closes once the open ones are done. */
  drain(debug = 'server shutting down'): void {
    if (this.draining || this.closed) return;
    this.draining = true;
    this.write(encodeGoaway(this.lastStreamId, H2_ERROR.NO_ERROR, debug));
    if (this.streams.size === 0) this.endSocket();
  }

  /**
   * A call this connection does not serve (another method, on a connection that began with
   * Connect): a GOAWAY that leaves it unprocessed (later ones: REFUSED_STREAM), so that the
   * client sends it again on a new connection (grpc-js retries a refused stream once, at once),
   * which then goes to grpc-js. The calls already open here go on; no new ones come.
   */
  refuse(stream: LightStream, debug: string): void {
    if (!this.draining && !this.closed) {
      this.draining = true;
      // The last id must be one the client may open (odd, or 0): nghttp2 fails the connection otherwise.
      this.write(encodeGoaway(Math.max(0, stream.id - 2), H2_ERROR.NO_ERROR, debug));
      // No RST_STREAM: the GOAWAY closed the stream on the client already (nghttp2 reports it
      // as refused) and a reset of it there is a protocol error.
      this.forget(stream);
      stream.abort(H2_ERROR.REFUSED_STREAM, 'refused: this connection serves other calls');
      return;
    }
    stream.close(H2_ERROR.REFUSED_STREAM);
  }

  /** Ends every stream and the socket at once (shutdown's force step). */
  destroy(reason: string): void {
    if (this.closed) return;
    this.logger.debug({ reason, peer: this.peer }, 'light HTTP/2 connection destroyed');
    this.closed = true;
    this.abortAll(H2_ERROR.CANCEL, reason);
    this.socket.destroy();
    this.reportClose();
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

  resetStream(stream: LightStream, code: number): void {
    if (stream.reset) return;
    if (!this.closed) this.write(encodeRstStream(stream.id, code));
    this.forget(stream);
    stream.abort(code, 'the server reset the stream');
  }

  consumed(stream: LightStream, bytes: number): void {
    this.creditConnection(bytes);
    if (stream.remoteClosed || stream.reset || this.closed) return;
    const increment = this.windows.creditStream(stream, bytes);
    if (increment > 0) this.write(encodeWindowUpdate(stream.id, increment));
  }

  localClosed(stream: LightStream): void {
    if (!stream.remoteClosed && !this.closed) {
      // The status is out; the request side is of no use any more (what C-core servers do).
      this.write(encodeRstStream(stream.id, H2_ERROR.NO_ERROR));
    }
    stream.reset = true;
    this.forget(stream);
  }

  // ---- reading -------------------------------------------------------------------------------

  /** @internal (socket listener) */
  onChunk(chunk: Buffer): void {
    if (this.closed) return;
    let frames: Frame[];
    try {
      frames = this.reader.push(chunk);
    } catch (err) {
      if (err instanceof H2ConnectionError) this.fail(err.code, err.message);
      else this.fail(H2_ERROR.INTERNAL_ERROR, 'reading a frame failed');
      return;
    }
    this.handleFrames(frames);
  }

  private handleFrames(frames: Frame[]): void {
    for (const frame of frames) {
      if (this.closed) return;
      try {
        this.handleFrame(frame);
      } catch (err) {
        if (err instanceof H2StreamError) this.streamError(err.streamId, err.code);
        else if (err instanceof H2ConnectionError) this.fail(err.code, err.message);
        else {
          this.logger.error({ err, peer: this.peer }, 'light HTTP/2 connection: a frame could not be handled');
          this.fail(H2_ERROR.INTERNAL_ERROR, 'internal error');
        }
      }
    }
  }

  private handleFrame(frame: Frame): void {
    if (this.block.open && frame.type !== FRAME.CONTINUATION) {
      throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'a header block was interrupted by another frame');
    }
    switch (frame.type) {
      case FRAME.DATA:
        return this.onData(frame);
      case FRAME.HEADERS:
        return this.onHeaders(frame);
      case FRAME.CONTINUATION:
        return this.onContinuation(frame);
      case FRAME.RST_STREAM:
        return this.onRstStream(frame);
      case FRAME.SETTINGS:
        return this.onSettings(frame);
      case FRAME.PING:
        return this.onPing(frame);
      case FRAME.GOAWAY:
        return this.onGoaway(frame);
      case FRAME.WINDOW_UPDATE:
        return this.onWindowUpdate(frame);
      case FRAME.PUSH_PROMISE:
        throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'a client must not send PUSH_PROMISE');
      case FRAME.PRIORITY:
        return this.uselessFrame();
      default:
        // Unknown frame types are ignored (RFC 9113 §4.1), within the budget for useless frames.
        return this.uselessFrame();
    }
  }

  private onData(frame: Frame): void {
    const length = frame.payload.length;
    if (frame.streamId === 0) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'DATA on stream 0');
    if (!this.windows.take(length)) throw new H2ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    const stream = this.streams.get(frame.streamId);
    if (!stream) {
      if (frame.streamId > this.lastStreamId) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'DATA on an idle stream');
      // A stream we closed or reset: its bytes still count against the connection window.
      this.creditConnection(length);
      // DATA in flight when we ended the stream is normal; only empty frames cost nothing to send.
      if (length === 0) this.uselessFrame();
      return;
    }
    if (stream.remoteClosed) {
      this.creditConnection(length);
      throw new H2StreamError(stream.id, H2_ERROR.STREAM_CLOSED, 'DATA after END_STREAM');
    }
    if (length > stream.recvWindow) {
      this.creditConnection(length);
      throw new H2StreamError(stream.id, H2_ERROR.FLOW_CONTROL_ERROR, 'DATA beyond the stream window');
    }
    stream.recvWindow -= length;
    const data = dataOf(frame);
    const padding = length - data.length;
    if (padding > 0) this.consumed(stream, padding);
    const end = (frame.flags & FLAG.END_STREAM) !== 0;
    if (data.length === 0 && !end) this.uselessFrame();
    if (data.length > 0) stream.handler?.onData(data);
    if (end) this.remoteEnd(stream);
  }

  private onHeaders(frame: Frame): void {
    if (frame.streamId === 0) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'HEADERS on stream 0');
    const done = this.block.begin(frame.streamId, (frame.flags & FLAG.END_STREAM) !== 0, headersBlockOf(frame), (frame.flags & FLAG.END_HEADERS) !== 0);
    if (done) this.onHeaderBlock(done.streamId, done.block, done.endStream);
  }

  private onContinuation(frame: Frame): void {
    const done = this.block.add(frame.streamId, frame.payload, (frame.flags & FLAG.END_HEADERS) !== 0);
    if (done) this.onHeaderBlock(done.streamId, done.block, done.endStream);
  }

  private onHeaderBlock(streamId: number, block: Buffer, endStream: boolean): void {
    // Decoded even when the stream is refused: the HPACK table must stay in step with the peer's.
    const decoded = this.predecoded ?? this.decoder.decode(block);
    this.predecoded = undefined;
    const existing = this.streams.get(streamId);
    if (existing) {
      if (!endStream) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'trailers without END_STREAM');
      if (existing.remoteClosed) throw new H2ConnectionError(H2_ERROR.STREAM_CLOSED, 'HEADERS after END_STREAM');
      return this.remoteEnd(existing);
    }
    if (streamId % 2 === 0) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, `stream ${streamId} is even: clients open odd streams`);
    if (streamId <= this.lastStreamId) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, `stream ${streamId} was used already`);
    this.lastStreamId = streamId;
    if (!this.opens.take(this.now())) {
      throw new H2ConnectionError(H2_ERROR.ENHANCE_YOUR_CALM, 'too many streams opened per second');
    }
    if (this.draining || this.streams.size >= this.limits.maxConcurrentStreams) {
      this.write(encodeRstStream(streamId, H2_ERROR.REFUSED_STREAM));
      return;
    }
    const stream = new LightStream(streamId, this, this.peerInitialWindow, this.windows.stream, this.limits.streamHighWater);
    this.streams.set(streamId, stream);
    this.onStream(this, stream, { headers: decoded.headers, oversize: decoded.oversize, endStream });
    if (endStream && !stream.reset) this.remoteEnd(stream);
  }

  private onRstStream(frame: Frame): void {
    if (frame.streamId === 0) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    const code = parseRstStream(frame.payload);
    if (!this.resets.take(this.now())) {
      throw new H2ConnectionError(H2_ERROR.ENHANCE_YOUR_CALM, 'too many stream resets per second');
    }
    const stream = this.streams.get(frame.streamId);
    if (!stream) {
      if (frame.streamId > this.lastStreamId) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
      return;
    }
    this.forget(stream);
    stream.abort(code, `the client reset the stream (HTTP/2 code ${code})`);
  }

  private onSettings(frame: Frame): void {
    if (frame.streamId !== 0) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (frame.flags & FLAG.ACK) {
      if (frame.payload.length !== 0) throw new H2ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      if (this.settingsUnacked > 0) this.settingsUnacked--;
      return;
    }
    if (!this.settingsBudget.take(this.now())) {
      throw new H2ConnectionError(H2_ERROR.ENHANCE_YOUR_CALM, 'too many SETTINGS per second');
    }
    for (const [id, value] of parseSettings(frame.payload)) {
      if (id === SETTING.ENABLE_PUSH && value > 1) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH above 1');
      if (id === SETTING.INITIAL_WINDOW_SIZE) this.setPeerInitialWindow(value);
      if (id === SETTING.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME_SIZE || value > 16_777_215) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
        this.data.maxFrameSize = value;
      }
    }
    this.write(encodeSettingsAck());
    this.data.pump();
  }

  private setPeerInitialWindow(value: number): void {
    if (value > MAX_WINDOW) throw new H2ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
    const delta = value - this.peerInitialWindow;
    this.peerInitialWindow = value;
    for (const stream of this.streams.values()) {
      stream.sendWindow += delta;
      if (stream.sendWindow > MAX_WINDOW) throw new H2ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, 'a stream window grew above 2^31-1');
      if (stream.queuedBytes > 0) this.data.add(stream);
    }
  }

  private onPing(frame: Frame): void {
    if (frame.streamId !== 0) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'PING on a stream');
    if (frame.payload.length !== 8) throw new H2ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'PING payload is not 8 bytes');
    if (frame.flags & FLAG.ACK) {
      this.keepalive.acked(frame.payload);
      return;
    }
    if (!this.pings.allow(this.now())) {
      this.fail(H2_ERROR.ENHANCE_YOUR_CALM, 'too_many_pings');
      return;
    }
    this.write(encodePing(true, frame.payload));
  }

  private onGoaway(frame: Frame): void {
    parseGoaway(frame.payload);
    // The client opens nothing more; what is open finishes, then the socket goes.
    this.draining = true;
    if (this.streams.size === 0) this.endSocket();
  }

  private onWindowUpdate(frame: Frame): void {
    const increment = parseWindowUpdate(frame.payload);
    if (frame.streamId === 0) {
      if (increment === 0) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.data.window += increment;
      if (this.data.window > MAX_WINDOW) throw new H2ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, 'the connection window grew above 2^31-1');
      this.data.pump();
      return;
    }
    const stream = this.streams.get(frame.streamId);
    if (!stream) {
      if (frame.streamId > this.lastStreamId) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream');
      return this.uselessFrame();
    }
    if (increment === 0) throw new H2StreamError(stream.id, H2_ERROR.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) throw new H2StreamError(stream.id, H2_ERROR.FLOW_CONTROL_ERROR, 'a stream window grew above 2^31-1');
    if (stream.queuedBytes > 0) this.schedule(stream);
  }

  private remoteEnd(stream: LightStream): void {
    stream.remoteClosed = true;
    stream.handler?.onEnd();
    if (stream.localClosed) this.forget(stream);
  }

  private uselessFrame(): void {
    if (!this.useless.take(this.now())) throw new H2ConnectionError(H2_ERROR.ENHANCE_YOUR_CALM, 'too many frames that do nothing');
  }

  private streamError(streamId: number, code: number): void {
    const stream = this.streams.get(streamId);
    if (stream) stream.close(code);
    else this.write(encodeRstStream(streamId, code));
  }

  private creditConnection(bytes: number): void {
    if (this.closed) return;
    const increment = this.windows.creditConnection(bytes);
    if (increment > 0) this.write(encodeWindowUpdate(0, increment));
  }

  // ---- writing -------------------------------------------------------------------------------

  private write(buffer: Buffer): void {
    this.writer.write(buffer);
  }

  /** @internal (socket listener) */
  onSocketDrain(): void {
    if (!this.closed) this.writer.drained();
    this.data.pump();
  }

  // ---- closing -------------------------------------------------------------------------------

  private forget(stream: LightStream): void {
    this.streams.delete(stream.id);
    this.data.forget(stream);
    if (this.draining && this.streams.size === 0) this.endSocket();
  }

  /** Connection error: GOAWAY with `code`, every stream ended, the socket closed once written. */
  private fail(code: number, message: string): void {
    if (this.closed) return;
    this.logger.info({ peer: this.peer, code, reason: message }, 'light HTTP/2 connection closed with GOAWAY');
    this.write(encodeGoaway(this.lastStreamId, code, message));
    this.closed = true;
    this.abortAll(code, `connection error: ${message}`);
    this.endSocket();
  }

  private endSocket(): void {
    this.keepalive.stop();
    // Reading goes on (and is discarded) until the peer closes too: closing with unread bytes
    // would make the kernel send RST and the peer might never see our GOAWAY.
    this.writer.resumeReading(true);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 5_000).unref();
  }

  private abortAll(code: number, reason: string): void {
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

  private reportClose(): void {
    if (this.closeReported) return;
    this.closeReported = true;
    this.keepalive.stop();
    this.onClose?.(this);
  }
}
