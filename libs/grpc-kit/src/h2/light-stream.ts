/** What a light stream tells the layer above it (the gRPC call, grpc-light-call.ts). */
export interface LightStreamHandler {
  /** DATA payload (a view, valid only during the call); `consume` it once the bytes are passed on. */
  onData(data: Buffer): void;
  /** The peer closed its side (END_STREAM) after the last DATA. */
  onEnd(): void;
  /**
   * A header block on a stream we opened (client side: the response HEADERS, then the trailers
   * with `endStream`); the server's streams take their request HEADERS from StreamOpen instead.
   */
  onHeaders?(headers: Array<[name: string, value: string]>, oversize: boolean, endStream: boolean): void;
  /** The stream ended before we closed it: the peer's RST_STREAM (`code`), or the connection died. */
  onReset(code: number, reason: string): void;
  /** Queued bytes fell below the high-water mark after `queuedBytes` passed it. */
  onDrain(): void;
}

interface OutChunk {
  data: Buffer;
  /** Called once the chunk's last byte went to the socket. */
  written?: () => void;
}

/** The part of the connection a stream calls back into (light-connection.ts). */
export interface StreamOwner {
  /** Queue changed: the connection may send DATA now. */
  schedule(stream: LightStream): void;
  /** Sends our response HEADERS or trailers (END_STREAM on trailers). */
  sendHeaders(stream: LightStream, headers: ReadonlyArray<readonly [string, string]>, endStream: boolean): void;
  /** Sends an empty DATA with END_STREAM (a client's half-close). */
  sendEndStream(stream: LightStream): void;
  /** Sends RST_STREAM and forgets the stream. */
  resetStream(stream: LightStream, code: number): void;
  /** `bytes` of received DATA were passed on: the receive windows may be refilled. */
  consumed(stream: LightStream, bytes: number): void;
  /** Our side wrote END_STREAM: the stream is done once the peer's side is too. */
  localClosed(stream: LightStream): void;
}

/**
 * One HTTP/2 stream of a light connection: its windows, the DATA waiting for them, and the
 * trailers that follow the DATA. The connection owns the frames; this only holds state.
 */
export class LightStream {
  handler: LightStreamHandler | undefined;
  /** What the peer lets us send (its SETTINGS_INITIAL_WINDOW_SIZE plus its WINDOW_UPDATEs). */
  sendWindow: number;
  /** What we still let the peer send on this stream. */
  recvWindow: number;
  /** Bytes passed on and not yet given back with WINDOW_UPDATE. */
  recvUnacked = 0;
  /** END_STREAM received. */
  remoteClosed = false;
  /** END_STREAM sent (or queued behind DATA), or reset. */
  localClosed = false;
  /** Reset by either side, or the connection is gone. */
  reset = false;
  headersSent = false;
  private readonly out: OutChunk[] = [];
  private outBytes = 0;
  /** What goes after the queued DATA: trailers, or (`null`) an empty END_STREAM DATA frame. */
  private pendingTrailers: ReadonlyArray<readonly [string, string]> | null | undefined;
  private wantDrain = false;

  constructor(
    readonly id: number,
    private readonly owner: StreamOwner,
    sendWindow: number,
    recvWindow: number,
    private readonly highWater: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  /** Bytes waiting for a window or for the socket. */
  get queuedBytes(): number {
    return this.outBytes;
  }

  /** Sends our response HEADERS now (they are not flow controlled). */
  respond(headers: ReadonlyArray<readonly [string, string]>): void {
    if (this.localClosed || this.headersSent) return;
    this.headersSent = true;
    this.owner.sendHeaders(this, headers, false);
  }

  /**
   * Queues DATA; `written` runs once its last byte went to the socket. False when the queue is
   * above the high-water mark (onDrain follows once it is below again).
   */
  write(data: Buffer | Buffer[], written?: () => void): boolean {
    if (this.localClosed) {
      written?.();
      return false;
    }
    // Parts of one message are queued together, so that they leave in one DATA frame.
    if (Array.isArray(data)) {
      for (let i = 0; i < data.length; i++) this.queue(data[i], i === data.length - 1 ? written : undefined);
    } else this.queue(data, written);
    this.owner.schedule(this);
    if (this.outBytes >= this.highWater) {
      this.wantDrain = true;
      return false;
    }
    return true;
  }

  private queue(data: Buffer, written: (() => void) | undefined): void {
    this.out.push({ data, written });
    this.outBytes += data.length;
  }

  /** Sends trailers (END_STREAM) once the queued DATA is out; `null`: END_STREAM on an empty DATA frame. */
  end(trailers: ReadonlyArray<readonly [string, string]> | null): void {
    if (this.localClosed) return;
    this.localClosed = true;
    if (this.outBytes === 0) this.flushTrailers(trailers);
    else {
      this.pendingTrailers = trailers;
      this.owner.schedule(this);
    }
  }

  /** Resets the stream (RST_STREAM `code`) and drops whatever is queued. */
  close(code: number): void {
    if (this.reset) return;
    this.localClosed = true;
    this.dropQueue();
    this.owner.resetStream(this, code);
  }

  /** Gives `bytes` of received DATA back to the peer's windows. */
  consume(bytes: number): void {
    if (bytes > 0 && !this.reset) this.owner.consumed(this, bytes);
  }

  /** True when DATA is queued and the stream window lets some out. */
  get sendable(): boolean {
    return !this.reset && this.outBytes > 0 && this.sendWindow > 0;
  }

  /**
   * Takes up to `max` queued bytes for one DATA frame (views, no copies) and the callbacks of
   * the chunks it finishes. Called by the connection, which has checked the windows.
   */
  take(max: number): { parts: Buffer[]; bytes: number; done: Array<() => void> } {
    const parts: Buffer[] = [];
    const done: Array<() => void> = [];
    let bytes = 0;
    while (bytes < max && this.out.length > 0) {
      const chunk = this.out[0];
      const room = max - bytes;
      if (chunk.data.length <= room) {
        this.out.shift();
        parts.push(chunk.data);
        bytes += chunk.data.length;
        if (chunk.written) done.push(chunk.written);
      } else {
        parts.push(chunk.data.subarray(0, room));
        chunk.data = chunk.data.subarray(room);
        bytes += room;
      }
    }
    this.outBytes -= bytes;
    this.sendWindow -= bytes;
    return { parts, bytes, done };
  }

  /** After DATA went out: trailers when the queue is empty, drain when below the mark. */
  afterSend(): void {
    if (this.outBytes === 0 && this.pendingTrailers !== undefined) {
      const trailers = this.pendingTrailers;
      this.pendingTrailers = undefined;
      this.flushTrailers(trailers);
    }
    if (this.wantDrain && this.outBytes < this.highWater) {
      this.wantDrain = false;
      this.handler?.onDrain();
    }
  }

  /** The stream is gone without our trailers (peer reset, connection lost): tell the handler once. */
  abort(code: number, reason: string): void {
    if (this.reset) return;
    this.reset = true;
    this.localClosed = true;
    this.dropQueue();
    this.handler?.onReset(code, reason);
  }

  private flushTrailers(trailers: ReadonlyArray<readonly [string, string]> | null): void {
    if (trailers === null) this.owner.sendEndStream(this);
    else this.owner.sendHeaders(this, trailers, true);
    this.owner.localClosed(this);
  }

  private dropQueue(): void {
    // Callbacks still run: a writer waiting on them (FrameSender's in-flight count) must not hang.
    const callbacks = this.out.map((c) => c.written);
    this.out.length = 0;
    this.outBytes = 0;
    this.pendingTrailers = undefined;
    for (const cb of callbacks) cb?.();
  }
}
