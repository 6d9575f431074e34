import type { Socket } from 'node:net';
import { CLIENT_PREFACE, FLAG, FRAME, type Frame, FrameReader, encodeFrame, encodeSettings, headersBlockOf } from './h2-frames';
import { type DecodedHeaders, HpackDecoder } from './hpack-decoder';
import { HeaderBlockAssembler } from './header-block-assembler';
import { DEFAULT_LIGHT_LIMITS, DEFAULT_MAX_FRAME_SIZE } from './light-limits';

/** What the sniffer read from a connection that goes to the light stack. */
export interface SniffedConnection {
  reader: FrameReader;
  /** Holds the HPACK table after the first header block: the connection goes on with it. */
  decoder: HpackDecoder;
  /** Every frame read so far, the first header block's among them. */
  frames: Frame[];
  firstBlock: DecodedHeaders;
}

export interface SnifferOptions {
  /** True when a connection whose first call is on `path` goes to the light stack. */
  wants(path: string | undefined): boolean;
  light(socket: Socket, sniffed: SniffedConnection): void;
  /** Any other connection: the bytes read were pushed back onto the socket (socket.unshift). */
  fallback(socket: Socket): void;
  /** Most bytes read before giving up on finding the first request (then: fallback). */
  maxBytes?: number;
  /**
   * How long after the client's preface we wait for its first request before falling back: a
   * client that waits for the server's SETTINGS before it sends a request (grpc-go marks its
   * transport ready only then) would otherwise never send one.
   */
  settleMs?: number;
  /** How long a connection may take to send the preface at all (slowloris): then it is closed. */
  prefaceTimeoutMs?: number;
}

export const SNIFF_MAX_BYTES = 64 * 1024;
export const SNIFF_SETTLE_MS = 100;
export const SNIFF_PREFACE_TIMEOUT_MS = 10_000;

/**
 * Reads a plaintext HTTP/2 connection up to its first complete request header block and decides
 * where it goes: to the light stack when its :path is one of the light methods (the broker's
 * TunnelService/Connect), else back to grpc-js with every byte read pushed back onto the socket
 * (Node's Http2Session reads what is already buffered on the socket it is given:
 * connection-sniffer.spec.ts pins that). The one thing written while sniffing is an empty
 * SETTINGS frame, the server's preface, without which grpc-js and grpc-go clients send no request;
 * it sets nothing, so a connection handed to grpc-js behaves as if nghttp2's SETTINGS were the
 * first, and the client's ACK of it is taken out of the bytes grpc-js gets.
 */
export function sniffConnection(socket: Socket, options: SnifferOptions): void {
  const maxBytes = options.maxBytes ?? SNIFF_MAX_BYTES;
  const reader = new FrameReader({ maxFrameSize: DEFAULT_MAX_FRAME_SIZE, expectPreface: true });
  const block = new HeaderBlockAssembler(DEFAULT_LIGHT_LIMITS.maxHeaderBlockBytes);
  const chunks: Buffer[] = [];
  const frames: Frame[] = [];
  let bytes = 0;
  let settingsSent = false;
  /** Index in `frames` of the client's ACK of our empty SETTINGS, once it came. */
  let ackAt = -1;
  /** Not a light connection, but our SETTINGS' ACK is still to come: it must not reach grpc-js. */
  let fallbackWhenAcked = false;
  let settleTimer: NodeJS.Timeout | undefined;
  let decided = false;
  const deadline = setTimeout(() => {
    // No preface, or no ACK of our SETTINGS, in all that time (slowloris).
    finish();
    socket.destroy();
  }, options.prefaceTimeoutMs ?? SNIFF_PREFACE_TIMEOUT_MS);
  // A connection that says nothing must not keep a stopping process alive.
  deadline.unref();

  const finish = () => {
    decided = true;
    clearTimeout(deadline);
    if (settleTimer) clearTimeout(settleTimer);
    socket.removeListener('data', onData);
    socket.removeListener('error', finish);
    socket.removeListener('close', finish);
  };
  /** Hands the connection to grpc-js with what it sent, minus the ACK of the SETTINGS nghttp2 did not send. */
  const fallback = () => {
    if (decided) return;
    if (settingsSent && ackAt < 0) {
      fallbackWhenAcked = true;
      return;
    }
    finish();
    socket.pause();
    if (bytes > 0) socket.unshift(settingsSent ? replay(chunks, bytes, frames, ackAt, reader.bufferedBytes) : Buffer.concat(chunks, bytes));
    options.fallback(socket);
  };
  const decide = (headerBlock: Buffer) => {
    const decoder = new HpackDecoder({ maxHeaderListBytes: DEFAULT_LIGHT_LIMITS.maxHeaderListBytes });
    let firstBlock: DecodedHeaders;
    try {
      firstBlock = decoder.decode(headerBlock);
    } catch {
      return fallback();
    }
    const path = firstBlock.headers.find(([name]) => name === ':path')?.[1];
    if (firstBlock.oversize || !options.wants(path)) return fallback();
    finish();
    socket.pause();
    options.light(socket, { reader, decoder, frames, firstBlock });
  };
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    bytes += chunk.length;
    let read: Frame[];
    try {
      read = reader.push(chunk);
    } catch {
      // Not HTTP/2 as we read it: grpc-js answers it as it always did.
      return fallback();
    }
    if (!settingsSent && bytes >= CLIENT_PREFACE.length) {
      // The server's preface, empty so that it changes nothing grpc-js would set: grpc-js and
      // grpc-go clients send no request before they have it (grpc-js waits for 'remoteSettings').
      settingsSent = true;
      socket.write(encodeSettings([]));
    }
    let headersDone: Buffer | undefined;
    for (const frame of read) {
      frames.push(frame);
      if (frame.type === FRAME.SETTINGS && frame.flags & FLAG.ACK && ackAt < 0 && frame.payload.length === 0) {
        ackAt = frames.length - 1;
        // A request should follow the ACK at once; a client that makes none goes to grpc-js.
        if (!fallbackWhenAcked && !headersDone) settleTimer = setTimeout(fallback, options.settleMs ?? SNIFF_SETTLE_MS);
        continue;
      }
      if (headersDone) continue;
      try {
        const done =
          frame.type === FRAME.HEADERS
            ? block.begin(frame.streamId, (frame.flags & FLAG.END_STREAM) !== 0, headersBlockOf(frame), (frame.flags & FLAG.END_HEADERS) !== 0)
            : frame.type === FRAME.CONTINUATION
              ? block.add(frame.streamId, frame.payload, (frame.flags & FLAG.END_HEADERS) !== 0)
              : undefined;
        if (done) headersDone = done.block;
      } catch {
        return fallback();
      }
    }
    if (fallbackWhenAcked) {
      if (ackAt >= 0) {
        fallbackWhenAcked = false;
        fallback();
      }
      return;
    }
    if (headersDone) return decide(headersDone);
    if (bytes > maxBytes) fallback();
  };
  socket.on('data', onData);
  socket.on('error', finish);
  socket.on('close', finish);
}

/**
 * The bytes grpc-js must see: the preface, every frame read except the client's ACK of our empty
 * SETTINGS (nghttp2 would take it for the ACK of its own and fail the connection on the real one),
 * and the start of a frame not complete yet.
 */
function replay(chunks: Buffer[], bytes: number, frames: Frame[], ackAt: number, partialBytes: number): Buffer {
  const parts: Buffer[] = [CLIENT_PREFACE];
  frames.forEach((frame, i) => {
    if (i !== ackAt) parts.push(encodeFrame(frame.type, frame.flags, frame.streamId, frame.payload));
  });
  if (partialBytes > 0) parts.push(Buffer.concat(chunks, bytes).subarray(bytes - partialBytes));
  return Buffer.concat(parts);
}
