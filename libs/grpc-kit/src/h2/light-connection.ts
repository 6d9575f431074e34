import type { Socket } from 'node:net';
import type { Logger } from '@st/logging';
import { H2ConnectionError, H2_ERROR } from './h2-errors';
import { type Frame, type FrameReader, SETTING, encodeGoaway, encodeRstStream, encodeWindowUpdate } from './h2-frames';
import type { DecodedHeaders, HpackDecoder } from './hpack-decoder';
import { H2Endpoint } from './h2-endpoint';
import { DEFAULT_LIGHT_LIMITS, type LightLimits } from './light-limits';
import { LightStream } from './light-stream';
import { RateBudget } from './rate-budget';
import { PingPolicy } from './ping-policy';

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
 * The server side of one HTTP/2 connection, over a plain net.Socket: what both ends share
 * (h2-endpoint.ts: frames, SETTINGS, flow control, PING, GOAWAY, RST_STREAM) plus the client's
 * stream opens and the bounds a public port needs (light-limits.ts). It costs a few KB per idle
 * connection where a node:http2 session costs ~26 KB (nghttp2 allocates a 16 KiB frame buffer per
 * session), which is what lets one broker hold 10,000 idle agents (issue 9). The gRPC layer lives
 * above it (light-grpc-server.ts).
 */
export class LightConnection extends H2Endpoint {
  private readonly limits: LightLimits;
  private readonly onStream: LightConnectionOptions['onStream'];
  private readonly onClose: LightConnectionOptions['onClose'];
  private predecoded: DecodedHeaders | undefined;
  private readonly initialFrames: Frame[];
  private lastStreamId = 0;
  private readonly opens: RateBudget;

  constructor(options: LightConnectionOptions) {
    const limits = options.limits ?? DEFAULT_LIGHT_LIMITS;
    super({
      socket: options.socket,
      reader: options.reader,
      decoder: options.decoder,
      limits,
      pings: new PingPolicy(limits.minPingIntervalMs, limits.maxPingStrikes),
      logger: options.logger,
      now: options.now,
      // The sniffer's empty SETTINGS.
      settingsUnacked: 1,
      role: 'server',
    });
    this.limits = limits;
    this.onStream = options.onStream;
    this.onClose = options.onClose;
    this.predecoded = options.firstBlock;
    this.opens = new RateBudget(limits.streamOpensPerSecond, limits.streamOpenBurst, this.now());
    this.sendSettings([
      [SETTING.MAX_CONCURRENT_STREAMS, limits.maxConcurrentStreams],
      [SETTING.INITIAL_WINDOW_SIZE, this.windows.stream],
      [SETTING.MAX_HEADER_LIST_SIZE, limits.maxHeaderListBytes],
      [SETTING.ENABLE_PUSH, 0],
    ]);
    this.listen();
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

  /**
   * Opens the large receive windows (an agent was admitted): SETTINGS_INITIAL_WINDOW_SIZE for
   * every stream, WINDOW_UPDATE for the connection, once (the policy of session-windows.ts).
   */
  widen(): void {
    if (this.closed) return;
    const l = this.limits;
    const grown = this.windows.widen(this.streams.values(), l.widenedStreamWindow, l.widenedConnectionWindow);
    if (!grown) return;
    this.sendSettings([[SETTING.INITIAL_WINDOW_SIZE, this.windows.stream]]);
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

  localClosed(stream: LightStream): void {
    if (!stream.remoteClosed && !this.closed) {
      // The status is out; the request side is of no use any more (what C-core servers do).
      this.write(encodeRstStream(stream.id, H2_ERROR.NO_ERROR));
    }
    stream.reset = true;
    this.forget(stream);
  }

  protected get goawayLastStreamId(): number {
    return this.lastStreamId;
  }

  protected isIdle(streamId: number): boolean {
    return streamId > this.lastStreamId;
  }

  protected onHeaderBlock(streamId: number, block: Buffer, endStream: boolean): void {
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

  protected onGoawayFrame(): void {
    // The client opens nothing more; what is open finishes, then the socket goes.
    this.draining = true;
    if (this.streams.size === 0) this.endSocket();
  }

  protected override onClosed(): void {
    this.onClose?.(this);
  }
}
