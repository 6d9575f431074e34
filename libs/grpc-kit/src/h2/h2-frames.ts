import { H2_ERROR, H2ConnectionError } from './h2-errors';
import { FRAME_HEADER_BYTES, type Frame } from './h2-frame-reader';

/*
 * HTTP/2 frame constants, encoders and payload parsers (RFC 9113 section 6). Parsers throw
 * H2ConnectionError for what RFC 9113 calls a connection error; they do not know the connection's
 * state, so checks that need it (a stream id of 0 where one is required, a zero window increment)
 * are the caller's.
 */
export { CLIENT_PREFACE, FrameReader, FRAME_HEADER_BYTES, type Frame, type FrameReaderOptions } from './h2-frame-reader';

export const FRAME = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

/** END_STREAM and ACK share a bit: END_STREAM on DATA/HEADERS, ACK on SETTINGS/PING. */
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export const SETTING = {
  HEADER_TABLE_SIZE: 1,
  ENABLE_PUSH: 2,
  MAX_CONCURRENT_STREAMS: 3,
  INITIAL_WINDOW_SIZE: 4,
  MAX_FRAME_SIZE: 5,
  MAX_HEADER_LIST_SIZE: 6,
} as const;

/** Limits from RFC 9113 6.5.2 and 6.9. */
export const MIN_MAX_FRAME_SIZE = 16384;
export const MAX_MAX_FRAME_SIZE = 2 ** 24 - 1;
export const MAX_WINDOW = 2 ** 31 - 1;

function writeHeader(out: Buffer, type: number, flags: number, streamId: number, length: number): void {
  out[0] = (length >>> 16) & 0xff;
  out[1] = (length >>> 8) & 0xff;
  out[2] = length & 0xff;
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(streamId & 0x7fffffff, 5);
}

/** A 9-byte frame header, for writing a payload that is already in its own buffer (writev). */
export function frameHeader(type: number, flags: number, streamId: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  writeHeader(out, type, flags, streamId, length);
  return out;
}

/** A whole frame in one buffer (header + a copy of the payload). */
export function encodeFrame(type: number, flags: number, streamId: number, payload?: Uint8Array): Buffer {
  const length = payload ? payload.length : 0;
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  writeHeader(out, type, flags, streamId, length);
  if (payload) out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

export function encodeSettings(settings: ReadonlyArray<readonly [id: number, value: number]>): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + settings.length * 6);
  writeHeader(out, FRAME.SETTINGS, 0, 0, settings.length * 6);
  settings.forEach(([id, value], i) => {
    out.writeUInt16BE(id, FRAME_HEADER_BYTES + i * 6);
    out.writeUInt32BE(value, FRAME_HEADER_BYTES + i * 6 + 2);
  });
  return out;
}

export function encodeSettingsAck(): Buffer {
  return frameHeader(FRAME.SETTINGS, FLAG.ACK, 0, 0);
}

export function encodePing(ack: boolean, opaque: Uint8Array): Buffer {
  if (opaque.length !== 8) throw new RangeError(`a PING carries 8 opaque bytes, not ${opaque.length}`);
  return encodeFrame(FRAME.PING, ack ? FLAG.ACK : 0, 0, opaque);
}

export function encodeGoaway(lastStreamId: number, code: number, debug?: string): Buffer {
  const debugBytes = debug ? Buffer.byteLength(debug, 'utf8') : 0;
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 8 + debugBytes);
  writeHeader(out, FRAME.GOAWAY, 0, 0, 8 + debugBytes);
  out.writeUInt32BE(lastStreamId & 0x7fffffff, FRAME_HEADER_BYTES);
  out.writeUInt32BE(code >>> 0, FRAME_HEADER_BYTES + 4);
  if (debug) out.write(debug, FRAME_HEADER_BYTES + 8, 'utf8');
  return out;
}

export function encodeRstStream(streamId: number, code: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeHeader(out, FRAME.RST_STREAM, 0, streamId, 4);
  out.writeUInt32BE(code >>> 0, FRAME_HEADER_BYTES);
  return out;
}

export function encodeWindowUpdate(streamId: number, increment: number): Buffer {
  if (increment < 1 || increment > MAX_WINDOW) throw new RangeError(`a WINDOW_UPDATE increment must be 1..2^31-1, not ${increment}`);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeHeader(out, FRAME.WINDOW_UPDATE, 0, streamId, 4);
  out.writeUInt32BE(increment, FRAME_HEADER_BYTES);
  return out;
}

function frameSizeError(what: string): H2ConnectionError {
  return new H2ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, `HTTP/2: ${what}`);
}

/**
 * SETTINGS entries in order (unknown ids included: RFC 9113 6.5.2 says to ignore them, which is the
 * caller's loop). Call only for a SETTINGS frame without ACK; an ACK with a payload is a
 * FRAME_SIZE_ERROR the caller checks.
 */
export function parseSettings(payload: Buffer): Array<[id: number, value: number]> {
  if (payload.length % 6 !== 0) throw frameSizeError(`a SETTINGS payload of ${payload.length} bytes is not a multiple of 6 (RFC 9113 6.5)`);
  const settings: Array<[number, number]> = [];
  for (let at = 0; at < payload.length; at += 6) {
    const id = payload.readUInt16BE(at);
    const value = payload.readUInt32BE(at + 2);
    if (id === SETTING.ENABLE_PUSH && value > 1) {
      throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, `HTTP/2: SETTINGS_ENABLE_PUSH must be 0 or 1, not ${value} (RFC 9113 6.5.2)`);
    }
    if (id === SETTING.INITIAL_WINDOW_SIZE && value > MAX_WINDOW) {
      throw new H2ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, `HTTP/2: SETTINGS_INITIAL_WINDOW_SIZE ${value} exceeds 2^31-1 (RFC 9113 6.5.2)`);
    }
    if (id === SETTING.MAX_FRAME_SIZE && (value < MIN_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE)) {
      throw new H2ConnectionError(H2_ERROR.PROTOCOL_ERROR, `HTTP/2: SETTINGS_MAX_FRAME_SIZE ${value} is outside [16384, 2^24-1] (RFC 9113 6.5.2)`);
    }
    settings.push([id, value]);
  }
  return settings;
}

/** Strips the pad-length byte and the padding of a PADDED frame; `skip` more bytes follow the pad length. */
function unpad(frame: Frame, skip: number, what: string): Buffer {
  const payload = frame.payload;
  if (!(frame.flags & FLAG.PADDED)) {
    if (payload.length < skip) throw frameSizeError(`a ${what} frame of ${payload.length} bytes is too short for its priority fields`);
    return payload.subarray(skip);
  }
  if (payload.length < 1 + skip) throw frameSizeError(`a padded ${what} frame of ${payload.length} bytes is too short for its fields`);
  const padLength = payload[0];
  if (padLength > payload.length - 1 - skip) {
    throw new H2ConnectionError(
      H2_ERROR.PROTOCOL_ERROR,
      `HTTP/2: a ${what} frame's padding (${padLength}) is longer than its remaining payload (RFC 9113 6.1, 6.2)`,
    );
  }
  return payload.subarray(1 + skip, payload.length - padLength);
}

/** The header block fragment of a HEADERS (minus padding and priority fields) or CONTINUATION frame. */
export function headersBlockOf(frame: Frame): Buffer {
  if (frame.type === FRAME.CONTINUATION) return frame.payload;
  return unpad(frame, frame.flags & FLAG.PRIORITY ? 5 : 0, 'HEADERS');
}

/** A DATA frame's data, minus padding. Flow control counts the whole payload, padding included. */
export function dataOf(frame: Frame): Buffer {
  return unpad(frame, 0, 'DATA');
}

/** A WINDOW_UPDATE's increment. 0 is a PROTOCOL_ERROR (RFC 9113 6.9) that the caller raises: on stream 0 for the connection, else for the stream. */
export function parseWindowUpdate(payload: Buffer): number {
  if (payload.length !== 4) throw frameSizeError(`a WINDOW_UPDATE payload is ${payload.length} bytes, not 4 (RFC 9113 6.9)`);
  return payload.readUInt32BE(0) & 0x7fffffff;
}

/** A RST_STREAM's error code. */
export function parseRstStream(payload: Buffer): number {
  if (payload.length !== 4) throw frameSizeError(`a RST_STREAM payload is ${payload.length} bytes, not 4 (RFC 9113 6.4)`);
  return payload.readUInt32BE(0);
}

/** A GOAWAY's last stream id and error code (the debug data after them is ignored). */
export function parseGoaway(payload: Buffer): { lastStreamId: number; code: number } {
  if (payload.length < 8) throw frameSizeError(`a GOAWAY payload is ${payload.length} bytes, under 8 (RFC 9113 6.8)`);
  return { lastStreamId: payload.readUInt32BE(0) & 0x7fffffff, code: payload.readUInt32BE(4) };
}
