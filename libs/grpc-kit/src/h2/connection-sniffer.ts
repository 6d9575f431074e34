import type { Socket } from 'node:net';
import { FLAG, FRAME, type Frame, FrameReader, headersBlockOf } from './h2-frames';
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
 * connection-sniffer.spec.ts pins that). Nothing is written while sniffing, so grpc-js sees the
 * connection exactly as the client sent it.
 */
export function sniffConnection(socket: Socket, options: SnifferOptions): void {
  const maxBytes = options.maxBytes ?? SNIFF_MAX_BYTES;
  const reader = new FrameReader({ maxFrameSize: DEFAULT_MAX_FRAME_SIZE, expectPreface: true });
  const block = new HeaderBlockAssembler(DEFAULT_LIGHT_LIMITS.maxHeaderBlockBytes);
  const chunks: Buffer[] = [];
  const frames: Frame[] = [];
  let bytes = 0;
  let settleTimer: NodeJS.Timeout | undefined;
  let decided = false;
  const prefaceTimer = setTimeout(() => {
    finish();
    socket.destroy();
  }, options.prefaceTimeoutMs ?? SNIFF_PREFACE_TIMEOUT_MS);

  const finish = () => {
    decided = true;
    clearTimeout(prefaceTimer);
    if (settleTimer) clearTimeout(settleTimer);
    socket.removeListener('data', onData);
    socket.removeListener('error', onError);
    socket.removeListener('close', onClose);
  };
  const fallback = () => {
    if (decided) return;
    finish();
    socket.pause();
    if (bytes > 0) socket.unshift(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, bytes));
    options.fallback(socket);
  };
  const onError = () => finish();
  const onClose = () => finish();
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
    if (read.length > 0 && !settleTimer) {
      clearTimeout(prefaceTimer);
      settleTimer = setTimeout(fallback, options.settleMs ?? SNIFF_SETTLE_MS);
    }
    for (const frame of read) {
      frames.push(frame);
      try {
        const done =
          frame.type === FRAME.HEADERS
            ? block.begin(frame.streamId, (frame.flags & FLAG.END_STREAM) !== 0, headersBlockOf(frame), (frame.flags & FLAG.END_HEADERS) !== 0)
            : frame.type === FRAME.CONTINUATION
              ? block.add(frame.streamId, frame.payload, (frame.flags & FLAG.END_HEADERS) !== 0)
              : undefined;
        if (done) {
          frames.push(...read.slice(read.indexOf(frame) + 1));
          return decide(done.block);
        }
      } catch {
        return fallback();
      }
    }
    if (bytes > maxBytes) fallback();
  };
  socket.on('data', onData);
  socket.on('error', onError);
  socket.on('close', onClose);
}
