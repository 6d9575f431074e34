import type { Socket } from 'node:net';
import type { Logger } from '@st/logging';
import { H2ConnectionError, H2_ERROR } from './h2-errors';
import { CLIENT_PREFACE, FrameReader, SETTING, encodeGoaway, encodeWindowUpdate } from './h2-frames';
import { HpackDecoder } from './hpack-decoder';
import { H2Endpoint } from './h2-endpoint';
import { DEFAULT_CLIENT_LIMITS, type LightClientLimits } from './light-client-limits';
import { DEFAULT_MAX_FRAME_SIZE } from './light-limits';
import { LightStream } from './light-stream';
import { RateBudget } from './rate-budget';

export interface LightClientConnectionOptions {
  /** A socket that is connected or connecting (writes before 'connect' are buffered by Node). */
  socket: Socket;
  limits?: LightClientLimits;
  logger: Logger;
  now?: () => number;
  /** The socket closed (after every stream was told). */
  onClose?(connection: LightClientConnection): void;
}

/** A rate limit on the server's PINGs (there is no ping-strike policy on a client's side). */
class PingBudget {
  private readonly budget: RateBudget;
  constructor(perSecond: number, burst: number, now: number) {
    this.budget = new RateBudget(perSecond, burst, now);
  }
  allow(now: number): boolean {
    return this.budget.take(now);
  }
  forgive(): void {
    // Nothing to forgive: a server's pings are only rate-limited.
  }
}

/**
 * The client side of one HTTP/2 connection (st-agent's TunnelService/Connect; issue 9: the agent
 * was the costliest process of a tunnel, its CPU mostly nghttp2 and grpc-js). What it shares with
 * the server lives in h2-endpoint.ts; this adds the preface, our SETTINGS with large windows
 * for long fat links, opening streams, and the server's GOAWAY. The gRPC layer is
 * grpc-light-client-call.ts.
 */
export class LightClientConnection extends H2Endpoint {
  private readonly limits: LightClientLimits;
  private readonly onClose: LightClientConnectionOptions['onClose'];
  private nextStreamId = 1;
  private settingsSeen = false;
  private lastSocketError: Error | undefined;
  private tcpConnected = false;
  /** Why the connection ended, once it has: every stream's status then says so. */
  private lost: string | undefined;
  /** The server's GOAWAY, if one came. */
  goaway: { lastStreamId: number; code: number; debug: string } | undefined;

  constructor(options: LightClientConnectionOptions) {
    const limits = options.limits ?? DEFAULT_CLIENT_LIMITS;
    const now = options.now ?? Date.now;
    super({
      socket: options.socket,
      // What the server may send us per frame: the protocol's default, which we never raise.
      reader: new FrameReader({ maxFrameSize: DEFAULT_MAX_FRAME_SIZE, expectPreface: false }),
      decoder: new HpackDecoder({ maxHeaderListBytes: limits.maxHeaderListBytes }),
      limits,
      pings: new PingBudget(limits.pingsPerSecond, limits.pingBurst, now()),
      logger: options.logger,
      now,
      role: 'client',
    });
    this.limits = limits;
    this.onClose = options.onClose;
    this.write(CLIENT_PREFACE);
    this.sendSettings([
      [SETTING.ENABLE_PUSH, 0],
      [SETTING.INITIAL_WINDOW_SIZE, this.windows.stream],
      [SETTING.MAX_HEADER_LIST_SIZE, limits.maxHeaderListBytes],
    ]);
    const grown = this.windows.widen([], limits.initialStreamWindow, limits.connectionWindow);
    if (grown && grown.connectionIncrement > 0) this.write(encodeWindowUpdate(0, grown.connectionIncrement));
    options.socket.on('error', (err: Error) => {
      this.lastSocketError = err;
    });
    options.socket.once('connect', () => {
      this.tcpConnected = true;
    });
    this.listen();
    this.keepalive.start();
  }

  /** True once the server's first SETTINGS arrived (HTTP/2 is up). */
  get started(): boolean {
    return this.settingsSeen;
  }

  /** Why the connection is gone (undefined while it is up). */
  get lostReason(): string | undefined {
    return this.lost;
  }

  /** Opens a stream with request `headers` (HEADERS now; DATA follows with stream.write). */
  openStream(headers: ReadonlyArray<readonly [string, string]>): LightStream {
    if (this.closed || this.draining) throw new Error('the HTTP/2 connection is closing: open the stream on a new connection');
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const stream = new LightStream(id, this, this.peerInitialWindow, this.windows.stream, this.limits.streamHighWater);
    this.streams.set(id, stream);
    this.sendHeaders(stream, headers, false);
    return stream;
  }

  /** GOAWAY NO_ERROR and close once the open streams are done (or at once when none is). */
  close(): void {
    if (this.closed) return;
    if (!this.draining) {
      this.draining = true;
      this.write(encodeGoaway(0, H2_ERROR.NO_ERROR, 'client closing'));
    }
    if (this.streams.size === 0) this.endSocket();
  }

  localClosed(stream: LightStream): void {
    // Our half-close is out; the stream lives on until the server's trailers.
    if (stream.remoteClosed) this.forget(stream);
  }

  protected get goawayLastStreamId(): number {
    // We accept no stream from the server (no push).
    return 0;
  }

  protected isIdle(streamId: number): boolean {
    return streamId % 2 === 0 || streamId >= this.nextStreamId;
  }

  protected onHeaderBlock(streamId: number, block: Buffer, endStream: boolean): void {
    // Decoded even for a stream we reset: the HPACK table must stay in step with the server's.
    const decoded = this.decoder.decode(block);
    const stream = this.streams.get(streamId);
    if (!stream) {
      if (this.isIdle(streamId)) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, `HEADERS on stream ${streamId}, which we never opened`);
      return;
    }
    if (stream.remoteClosed) throw new H2ConnectionError(H2_ERROR.STREAM_CLOSED, 'HEADERS after END_STREAM');
    stream.handler?.onHeaders?.(decoded.headers, decoded.oversize, endStream);
    if (endStream && !stream.reset) this.remoteEnd(stream);
  }

  protected override peerSettingsReceived(): void {
    this.settingsSeen = true;
  }

  protected onGoawayFrame(lastStreamId: number, code: number, debug: string): void {
    this.goaway = { lastStreamId, code, debug };
    this.draining = true;
    if (code !== H2_ERROR.NO_ERROR) this.logger.info({ peer: this.peer, code, debug }, 'the broker sent GOAWAY with an error');
    // Streams above the last one the server processed never reached it: they may be sent again.
    for (const stream of [...this.streams.values()]) {
      if (stream.id <= lastStreamId) continue;
      this.forget(stream);
      stream.abort(H2_ERROR.REFUSED_STREAM, `the broker sent GOAWAY (code ${code}${debug ? `: ${debug}` : ''}) before processing the stream`);
    }
    if (this.streams.size === 0) this.endSocket();
  }

  protected override abortAll(code: number, reason: string): void {
    this.lost ??= this.describeLoss(reason);
    super.abortAll(code, this.lost);
  }

  /** grpc-js's words where the agent's hints look for them (http1-probe.ts, broker-credentials.ts). */
  private describeLoss(reason: string): string {
    const socketError = this.lastSocketError?.message;
    if (!this.settingsSeen) {
      // A TLS handshake's failure says why (an untrusted certificate); a plaintext peer that
      // resets the connection after our preface does not speak HTTP/2 (a TLS port, an HTTP/1.1 one).
      const tls = (this.socket as Socket & { encrypted?: boolean }).encrypted === true;
      if (socketError && (!this.tcpConnected || tls)) return `No connection established. Last error: ${socketError}`;
      if (socketError) return `Connection closed before starting HTTP/2 (${socketError})`;
      if (reason.startsWith('connection error:')) return `Protocol error: the peer does not speak HTTP/2 (${reason})`;
      return 'Connection closed before starting HTTP/2';
    }
    if (this.goaway && reason === 'the connection was lost') {
      return `the broker closed the connection after GOAWAY (code ${this.goaway.code}${this.goaway.debug ? `: ${this.goaway.debug}` : ''})`;
    }
    return socketError && reason === 'the connection was lost' ? `Connection dropped: ${socketError}` : reason;
  }

  protected override onClosed(): void {
    this.onClose?.(this);
  }
}
