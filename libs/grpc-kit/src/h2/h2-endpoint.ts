import { H2ConnectionError, H2_ERROR, H2StreamError } from './h2-errors';
import {
  FLAG,
  FRAME,
  type Frame,
  MAX_WINDOW,
  SETTING,
  dataOf,
  encodePing,
  encodeRstStream,
  encodeSettingsAck,
  headersBlockOf,
  parseSettings,
  parseGoaway,
  parseRstStream,
  parseWindowUpdate,
} from './h2-frames';
import { H2EndpointBase } from './h2-endpoint-base';
import { DEFAULT_MAX_FRAME_SIZE } from './light-limits';
import type { LightStream } from './light-stream';

export { type EndpointLimits, type H2EndpointOptions, type PeerPingPolicy } from './h2-endpoint-base';

/**
 * The reading half of both ends of a light HTTP/2 connection (RFC 9113): frames in, checked
 * against the connection's state and bounds, dispatched; what the server and the client differ
 * in (opening streams, GOAWAY, which ids are idle) is left to light-connection.ts and
 * light-client-connection.ts. The writing and closing half is h2-endpoint-base.ts.
 */
export abstract class H2Endpoint extends H2EndpointBase {
  /** A complete header block arrived on `streamId` (decode it even if unused: HPACK state). */
  protected abstract onHeaderBlock(streamId: number, block: Buffer, endStream: boolean): void;
  /** True when `streamId` was never opened (frames on it are a PROTOCOL_ERROR). */
  protected abstract isIdle(streamId: number): boolean;
  /** The peer's GOAWAY. */
  protected abstract onGoawayFrame(lastStreamId: number, code: number, debug: string): void;

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

  protected handleFrames(frames: Frame[]): void {
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
        if (frame.streamId !== 0) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'GOAWAY on a stream');
        return this.onGoaway(frame);
      case FRAME.WINDOW_UPDATE:
        return this.onWindowUpdate(frame);
      case FRAME.PUSH_PROMISE:
        // The server never may; a client announced SETTINGS_ENABLE_PUSH 0.
        throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'PUSH_PROMISE is not allowed on this connection');
      default:
        // PRIORITY and unknown frame types are ignored (RFC 9113 §4.1), within the budget for useless frames.
        return this.uselessFrame();
    }
  }

  private onData(frame: Frame): void {
    const length = frame.payload.length;
    if (frame.streamId === 0) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'DATA on stream 0');
    if (!this.windows.take(length)) throw new H2ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    const stream = this.streams.get(frame.streamId);
    if (!stream) {
      if (this.isIdle(frame.streamId)) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'DATA on an idle stream');
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

  private onRstStream(frame: Frame): void {
    if (frame.streamId === 0) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    const code = parseRstStream(frame.payload);
    if (!this.resets.take(this.now())) {
      throw new H2ConnectionError(H2_ERROR.ENHANCE_YOUR_CALM, 'too many stream resets per second');
    }
    const stream = this.streams.get(frame.streamId);
    if (!stream) {
      if (this.isIdle(frame.streamId)) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
      return;
    }
    this.forget(stream);
    stream.abort(code, `the ${this.role === 'server' ? 'client' : 'server'} reset the stream (HTTP/2 code ${code})`);
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
    this.peerSettingsReceived();
    this.data.pump();
  }

  /** The peer's SETTINGS were applied and acknowledged (the client's first means "HTTP/2 is up"). */
  protected peerSettingsReceived(): void {}

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
    const { lastStreamId, code } = parseGoaway(frame.payload);
    const debug = frame.payload.length > 8 ? frame.payload.toString('utf8', 8, Math.min(frame.payload.length, 8 + 256)) : '';
    this.onGoawayFrame(lastStreamId, code, debug);
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
      if (this.isIdle(frame.streamId)) throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream');
      return this.uselessFrame();
    }
    if (increment === 0) throw new H2StreamError(stream.id, H2_ERROR.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) throw new H2StreamError(stream.id, H2_ERROR.FLOW_CONTROL_ERROR, 'a stream window grew above 2^31-1');
    if (stream.queuedBytes > 0) this.schedule(stream);
  }

  protected remoteEnd(stream: LightStream): void {
    stream.remoteClosed = true;
    stream.handler?.onEnd();
    if (stream.localClosed) this.forget(stream);
  }

  protected uselessFrame(): void {
    if (!this.useless.take(this.now())) throw new H2ConnectionError(H2_ERROR.ENHANCE_YOUR_CALM, 'too many frames that do nothing');
  }

  private streamError(streamId: number, code: number): void {
    const stream = this.streams.get(streamId);
    if (stream) stream.close(code);
    else this.write(encodeRstStream(streamId, code));
  }

}
