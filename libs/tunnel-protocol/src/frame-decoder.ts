import { BinaryReader } from '@bufbuild/protobuf/wire';
import {
  type AgentFrame,
  type BrokerFrame,
  Cancel,
  type ConnectRequest,
  type ConnectResponse,
  type Credit,
  type Data,
  Drain,
  Draining,
  ExchangeError,
  type Header,
  HealthReport,
  Ping,
  Pong,
  Register,
  type RequestOpen,
  type ResponseHead,
  Welcome,
} from '@st/proto';

/*
 * The decoder of the tunnel's gRPC messages, the counterpart of frame-encoder.ts (RelayService's
 * are in relay-decoder.ts, on the functions exported here). It walks the bytes exactly as
 * ts-proto's generated decode does (the same loop per message: a field of the
 * wrong wire type is skipped, an unknown one skipped, a zero or end-group tag ends the message,
 * a oneof's last case wins, reads past the end throw), so it yields the same objects, malformed
 * input included; its spec checks that on random bytes. Bodies (Data.chunk, ResponseHead.body,
 * RequestOpen.body) are views of the received buffer, as ts-proto's are: never copied.
 *
 * Why not ts-proto's: its reader is a general one (a method call and a `this` per varint, a
 * TextDecoder call per string, a DataView per message); here the hot frames are decoded by small
 * functions on module state, strings by Buffer's UTF-8 decoding. Cold frames
 * (Register, Welcome, Ping, …) are handed to ts-proto's decode on a reader at the same position.
 *
 * Not re-entrant (module state); the message is let go of when decoding returns.
 */

const EMPTY_BYTES = new Uint8Array(0);
const EMPTY_BUFFER = Buffer.alloc(0);

let buf: Uint8Array = EMPTY_BYTES;
/**
 * `buf` as a Buffer, for its UTF-8 decoding. utf8Slice is what Buffer.toString('utf8', …) ends in,
 * without its argument checks: twice as fast as TextDecoder on header-sized strings.
 */
let text: Utf8Slicer = EMPTY_BUFFER as unknown as Utf8Slicer;
let pos = 0;
let len = 0;
/** ts-proto's reader over `buf`, made when a cold frame needs it. */
let reader: BinaryReader | undefined;

interface Utf8Slicer {
  utf8Slice(start: number, end: number): string;
}

interface Decoder<T> {
  decode(input: BinaryReader, length?: number): T;
}

// ---- the messages -----------------------------------------------------------------------------

/**
 * ConnectRequest's frames; undefined once there are more than `maxFrames` (the rest is not decoded:
 * the broker bounds the work one message can cost it).
 */
export function decodeAgentFrames(input: Uint8Array, maxFrames = Infinity): AgentFrame[] | undefined {
  begin(input);
  try {
    const frames: AgentFrame[] = [];
    while (pos < len) {
      const tag = uint32();
      if (tag === 10) {
        if (frames.length >= maxFrames) return undefined;
        frames.push(agentFrame(uint32()));
        continue;
      }
      if ((tag & 7) === 4 || tag === 0) break;
      skip(tag & 7);
    }
    return frames;
  } finally {
    end();
  }
}

export function decodeConnectRequest(input: Uint8Array): ConnectRequest {
  return { frames: decodeAgentFrames(input) ?? [] };
}

export function decodeConnectResponse(input: Uint8Array): ConnectResponse {
  begin(input);
  try {
    const message: ConnectResponse = { frames: [] };
    while (pos < len) {
      const tag = uint32();
      if (tag === 10) {
        message.frames.push(brokerFrame(uint32()));
        continue;
      }
      if ((tag & 7) === 4 || tag === 0) break;
      skip(tag & 7);
    }
    return message;
  } finally {
    end();
  }
}

// ---- frames -----------------------------------------------------------------------------------

function agentFrame(length: number): AgentFrame {
  const stop = pos + length;
  const message: AgentFrame = { frame: undefined };
  while (pos < stop) {
    const tag = uint32();
    switch (tag) {
      case 18: message.frame = { $case: 'head', value: responseHead(uint32()) }; continue;
      case 26: message.frame = { $case: 'data', value: data(uint32()) }; continue;
      case 42: message.frame = { $case: 'credit', value: credit(uint32()) }; continue;
      case 10: message.frame = { $case: 'register', value: cold(Register) }; continue;
      case 34: message.frame = { $case: 'error', value: cold(ExchangeError) }; continue;
      case 50: message.frame = { $case: 'ping', value: cold(Ping) }; continue;
      case 58: message.frame = { $case: 'pong', value: cold(Pong) }; continue;
      case 66: message.frame = { $case: 'draining', value: cold(Draining) }; continue;
      case 74: message.frame = { $case: 'health', value: cold(HealthReport) }; continue;
    }
    if ((tag & 7) === 4 || tag === 0) break;
    skip(tag & 7);
  }
  return message;
}

function brokerFrame(length: number): BrokerFrame {
  const stop = pos + length;
  const message: BrokerFrame = { frame: undefined };
  while (pos < stop) {
    const tag = uint32();
    switch (tag) {
      case 18: message.frame = { $case: 'open', value: requestOpen(uint32()) }; continue;
      case 26: message.frame = { $case: 'data', value: data(uint32()) }; continue;
      case 42: message.frame = { $case: 'credit', value: credit(uint32()) }; continue;
      case 10: message.frame = { $case: 'welcome', value: cold(Welcome) }; continue;
      case 34: message.frame = { $case: 'cancel', value: cold(Cancel) }; continue;
      case 50: message.frame = { $case: 'ping', value: cold(Ping) }; continue;
      case 58: message.frame = { $case: 'pong', value: cold(Pong) }; continue;
      case 66: message.frame = { $case: 'drain', value: cold(Drain) }; continue;
    }
    if ((tag & 7) === 4 || tag === 0) break;
    skip(tag & 7);
  }
  return message;
}

export function requestOpen(length: number): RequestOpen {
  const stop = pos + length;
  const m: RequestOpen = { exchangeId: 0, requestId: '', method: '', path: '', query: '', headers: [], body: EMPTY_BYTES, end: false };
  while (pos < stop) {
    const tag = uint32();
    switch (tag) {
      case 8: m.exchangeId = uint32(); continue;
      case 18: m.requestId = string(); continue;
      case 26: m.method = string(); continue;
      case 34: m.path = string(); continue;
      case 42: m.query = string(); continue;
      case 50: m.headers.push(header(uint32())); continue;
      case 58: m.body = bytes(); continue;
      case 64: m.end = bool(); continue;
    }
    if ((tag & 7) === 4 || tag === 0) break;
    skip(tag & 7);
  }
  return m;
}

export function responseHead(length: number): ResponseHead {
  const stop = pos + length;
  const m: ResponseHead = { exchangeId: 0, status: 0, headers: [], body: EMPTY_BYTES, end: false };
  while (pos < stop) {
    const tag = uint32();
    switch (tag) {
      case 8: m.exchangeId = uint32(); continue;
      case 16: m.status = uint32(); continue;
      case 26: m.headers.push(header(uint32())); continue;
      case 34: m.body = bytes(); continue;
      case 40: m.end = bool(); continue;
    }
    if ((tag & 7) === 4 || tag === 0) break;
    skip(tag & 7);
  }
  return m;
}

export function data(length: number): Data {
  const stop = pos + length;
  const m: Data = { exchangeId: 0, chunk: EMPTY_BYTES, end: false };
  while (pos < stop) {
    const tag = uint32();
    switch (tag) {
      case 8: m.exchangeId = uint32(); continue;
      case 18: m.chunk = bytes(); continue;
      case 24: m.end = bool(); continue;
    }
    if ((tag & 7) === 4 || tag === 0) break;
    skip(tag & 7);
  }
  return m;
}

function credit(length: number): Credit {
  const stop = pos + length;
  const m: Credit = { exchangeId: 0, bytes: 0 };
  while (pos < stop) {
    const tag = uint32();
    switch (tag) {
      case 8: m.exchangeId = uint32(); continue;
      case 16: m.bytes = uint32(); continue;
    }
    if ((tag & 7) === 4 || tag === 0) break;
    skip(tag & 7);
  }
  return m;
}

function header(length: number): Header {
  const stop = pos + length;
  const m: Header = { name: '', value: '' };
  while (pos < stop) {
    const tag = uint32();
    switch (tag) {
      case 10: m.name = string(); continue;
      case 18: m.value = string(); continue;
    }
    if ((tag & 7) === 4 || tag === 0) break;
    skip(tag & 7);
  }
  return m;
}

/** A cold sub-message: ts-proto's decode, on its reader moved to where this one is. */
export function cold<T>(message: Decoder<T>): T {
  const length = uint32();
  reader ??= new BinaryReader(buf);
  reader.pos = pos;
  const value = message.decode(reader, length);
  pos = reader.pos;
  return value;
}

// ---- wire primitives (the same reads, checks and errors as @bufbuild/protobuf's BinaryReader) --

/** varint32read: up to 10 bytes, the bits past 32 dropped. Reads past the end see undefined (0). */
export function uint32(): number {
  let b = buf[pos++];
  let result = b & 0x7f;
  if ((b & 0x80) === 0) return checked(result);
  b = buf[pos++];
  result |= (b & 0x7f) << 7;
  if ((b & 0x80) === 0) return checked(result);
  b = buf[pos++];
  result |= (b & 0x7f) << 14;
  if ((b & 0x80) === 0) return checked(result);
  b = buf[pos++];
  result |= (b & 0x7f) << 21;
  if ((b & 0x80) === 0) return checked(result);
  b = buf[pos++];
  result |= (b & 0x0f) << 28;
  for (let read = 5; (b & 0x80) !== 0 && read < 10; read++) b = buf[pos++];
  if ((b & 0x80) !== 0) throw new Error('invalid varint');
  return checked(result >>> 0);
}

/** varint64read, true when any of its 64 bits is set. */
function bool(): boolean {
  let lo = 0;
  let hi = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    const b = buf[pos++];
    lo |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return checked(lo) !== 0;
  }
  const middle = buf[pos++];
  lo |= (middle & 0x0f) << 28;
  hi = (middle & 0x70) >> 4;
  if ((middle & 0x80) === 0) return checked(lo) !== 0 || hi !== 0;
  for (let shift = 3; shift <= 31; shift += 7) {
    const b = buf[pos++];
    hi |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return checked(lo) !== 0 || hi !== 0;
  }
  throw new Error('invalid varint');
}

/** A view of the body: no copy. */
function bytes(): Uint8Array {
  const length = uint32();
  const start = pos;
  pos += length;
  assertBounds();
  return buf.subarray(start, start + length);
}

export function string(): string {
  const length = uint32();
  const start = pos;
  pos += length;
  assertBounds();
  // Buffer's UTF-8 decoding replaces bad sequences as TextDecoder does; TextDecoder also drops a leading BOM.
  const s = text.utf8Slice(start, start + length);
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}

/** BinaryReader.skip: unknown fields are stepped over, groups included. */
export function skip(wireType: number, fieldNo?: number): void {
  switch (wireType) {
    case 0:
      while (buf[pos++] & 0x80) {
        // the varint's bytes
      }
      break;
    case 1:
      pos += 8;
      break;
    case 5:
      pos += 4;
      break;
    case 2: {
      const length = uint32(); // read before `pos +=` takes pos's value
      pos += length;
      break;
    }
    case 3:
      for (;;) {
        const tag = uint32();
        const fn = tag >>> 3;
        const wt = tag & 7;
        if (fn <= 0 || wt > 5) throw new Error(`illegal tag: field no ${fn} wire type ${wt}`);
        if (wt === 4) {
          if (fieldNo !== undefined && fn !== fieldNo) throw new Error('invalid end group tag');
          break;
        }
        skip(wt, fn);
      }
      break;
    default:
      throw new Error(`cant skip wire type ${wireType}`);
  }
  assertBounds();
}

/** Whether the message has more bytes (the outermost loop's test). */
export function more(): boolean {
  return pos < len;
}

/** Where a nested message of `length` bytes, starting here, ends. */
export function stopAfter(length: number): number {
  return pos + length;
}

/** Whether the reader is still before `stop` (a nested message's loop test). */
export function before(stop: number): boolean {
  return pos < stop;
}

function checked<T>(value: T): T {
  assertBounds();
  return value;
}

function assertBounds(): void {
  if (pos > len) throw new RangeError('premature EOF');
}

export function begin(input: Uint8Array): void {
  buf = input;
  text = (Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength)) as unknown as Utf8Slicer;
  pos = 0;
  len = input.length;
  reader = undefined;
}

export function end(): void {
  buf = EMPTY_BYTES;
  text = EMPTY_BUFFER as unknown as Utf8Slicer;
  reader = undefined;
}
