import { H2_ERROR, H2ConnectionError } from './h2-errors';

/** The connection preface a client sends first (RFC 9113 3.4). */
export const CLIENT_PREFACE: Buffer = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Frame header length: 24-bit length, type, flags, reserved bit + 31-bit stream id (RFC 9113 4.1). */
export const FRAME_HEADER_BYTES = 9;

export interface Frame {
  type: number;
  flags: number;
  /** With the reserved bit cleared. */
  streamId: number;
  /** A view into the input chunk when the frame lies inside one chunk; copied only when it spans chunks. */
  payload: Buffer;
}

export interface FrameReaderOptions {
  /** Our SETTINGS_MAX_FRAME_SIZE; a larger frame -> H2ConnectionError(FRAME_SIZE_ERROR). */
  maxFrameSize: number;
  /** Server side: the first 24 bytes must be CLIENT_PREFACE, else PROTOCOL_ERROR. */
  expectPreface: boolean;
}

const EMPTY = Buffer.alloc(0);
/** First allocation for a payload that spans chunks (or the frame's length, if smaller). */
const MIN_PARTIAL_BYTES = 1024;

/**
 * Splits a socket's byte stream into frames. A frame inside one chunk costs no copy; one that spans
 * chunks is assembled into one buffer once its header is checked against maxFrameSize, so a peer
 * can make us hold at most 9 + maxFrameSize bytes. That buffer grows by doubling with what has
 * arrived (copies stay O(n) for 1-byte chunks) rather than being allocated at the announced length:
 * 10,000 connections that each announce a 16 KiB frame and send 10 bytes of it hold 10 MB, not 160.
 * The frame's type is not interpreted here.
 */
export class FrameReader {
  private readonly maxFrameSize: number;
  /** Preface bytes still expected (0 once matched or when not expected). */
  private prefaceLeft: number;
  /** A partial frame header, FRAME_HEADER_BYTES long, and how much of it is filled. */
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  /** The payload so far of a frame whose header is read but whose payload spans chunks. */
  private partial: Buffer | null = null;
  private partialFill = 0;
  private partialLength = 0;
  private partialType = 0;
  private partialFlags = 0;
  private partialStreamId = 0;

  constructor(options: FrameReaderOptions) {
    this.maxFrameSize = options.maxFrameSize;
    this.prefaceLeft = options.expectPreface ? CLIENT_PREFACE.length : 0;
  }

  /** Bytes held of a frame (or preface) not yet complete. */
  get bufferedBytes(): number {
    return this.partial ? FRAME_HEADER_BYTES + this.partialFill : this.headerFill;
  }

  /** Bytes allocated for a frame not yet complete (at most twice what arrived, at least 1 KiB). */
  get allocatedBytes(): number {
    return this.partial ? FRAME_HEADER_BYTES + this.partial.length : this.headerFill > 0 ? FRAME_HEADER_BYTES : 0;
  }

  /** Frames completed by `chunk`, in order. Throws H2ConnectionError on a bad preface or a frame too large. */
  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    let pos = 0;
    const end = chunk.length;
    if (this.prefaceLeft > 0) pos = this.matchPreface(chunk);
    while (pos < end) {
      if (this.partial) {
        // Continue a payload that spans chunks.
        const n = Math.min(end - pos, this.partialLength - this.partialFill);
        if (this.partialFill + n > this.partial.length) this.grow(this.partialFill + n);
        chunk.copy(this.partial, this.partialFill, pos, pos + n);
        this.partialFill += n;
        pos += n;
        if (this.partialFill === this.partialLength) {
          frames.push({ type: this.partialType, flags: this.partialFlags, streamId: this.partialStreamId, payload: this.partial });
          this.partial = null;
          this.partialFill = 0;
        }
        continue;
      }
      let header: Buffer;
      let at: number;
      if (this.headerFill > 0 || end - pos < FRAME_HEADER_BYTES) {
        // A header split across chunks: gather its 9 bytes first.
        const n = Math.min(end - pos, FRAME_HEADER_BYTES - this.headerFill);
        chunk.copy(this.header, this.headerFill, pos, pos + n);
        this.headerFill += n;
        pos += n;
        if (this.headerFill < FRAME_HEADER_BYTES) break;
        this.headerFill = 0;
        header = this.header;
        at = 0;
      } else {
        header = chunk;
        at = pos;
        pos += FRAME_HEADER_BYTES;
      }
      const length = (header[at] << 16) | (header[at + 1] << 8) | header[at + 2];
      if (length > this.maxFrameSize) {
        throw new H2ConnectionError(
          H2_ERROR.FRAME_SIZE_ERROR,
          `HTTP/2: a frame of ${length} bytes exceeds our SETTINGS_MAX_FRAME_SIZE of ${this.maxFrameSize} (RFC 9113 4.2)`,
        );
      }
      const type = header[at + 3];
      const flags = header[at + 4];
      const streamId = header.readUInt32BE(at + 5) & 0x7fffffff; // the reserved bit is ignored (4.1)
      if (length === 0) {
        frames.push({ type, flags, streamId, payload: EMPTY });
      } else if (end - pos >= length) {
        frames.push({ type, flags, streamId, payload: chunk.subarray(pos, pos + length) });
        pos += length;
      } else {
        this.partial = Buffer.allocUnsafe(Math.min(length, Math.max(MIN_PARTIAL_BYTES, 2 * (end - pos))));
        this.partialLength = length;
        this.partialType = type;
        this.partialFlags = flags;
        this.partialStreamId = streamId;
        // the loop copies what this chunk holds of it
      }
    }
    return frames;
  }

  /** Makes the partial payload's buffer hold `needed` bytes: double it, up to the frame's length. */
  private grow(needed: number): void {
    const old = this.partial!;
    const next = Buffer.allocUnsafe(Math.min(this.partialLength, Math.max(needed, 2 * old.length)));
    old.copy(next, 0, 0, this.partialFill);
    this.partial = next;
  }

  /** Checks the chunk's share of the preface; returns where frames start in it. */
  private matchPreface(chunk: Buffer): number {
    const offset = CLIENT_PREFACE.length - this.prefaceLeft;
    const n = Math.min(chunk.length, this.prefaceLeft);
    if (chunk.compare(CLIENT_PREFACE, offset, offset + n, 0, n) !== 0) {
      throw new H2ConnectionError(
        H2_ERROR.PROTOCOL_ERROR,
        'HTTP/2: the connection did not start with the client preface (RFC 9113 3.4); is the client speaking HTTP/1.1 or TLS to a cleartext HTTP/2 port?',
      );
    }
    this.prefaceLeft -= n;
    return n;
  }
}
