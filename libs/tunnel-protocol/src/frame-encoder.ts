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
import { GatheredData, dataBytes } from './gathered-data';

/*
 * The encoder of the tunnel's gRPC messages (ConnectRequest, ConnectResponse; RelayService's are
 * in relay-encoder.ts, on the functions exported here), producing exactly the bytes ts-proto's
 * generated encode does (same field order, proto3 defaults omitted the same way), so the wire is
 * unchanged.
 *
 * Why not ts-proto's: its BinaryWriter copies every body byte once per nesting level (each
 * fork/join re-assembles the chunks below it: Data, then the frame, then the batch), and the
 * service definition copies the result once more into a Buffer. Here pass 1 computes every length
 * (keeping them in `sizes`, in the order pass 2 meets them), pass 2 writes each field once into
 * one Buffer.allocUnsafe of the exact size: a body is copied once. grpc-js still copies the
 * message behind its 5-byte prefix; that copy is not ours to remove.
 *
 * The hot frames (RequestOpen, ResponseHead, Data, Credit, with their headers) are encoded here;
 * the cold ones (Register, Welcome, Ping, …: a few per stream or per second) are encoded by
 * ts-proto in pass 1 and copied in pass 2, which keeps this file small and their bytes right.
 *
 * Not re-entrant (module state); nothing here calls out to code that could encode again.
 */

/** Pass 1's lengths: each message's size (reserved before its fields) and each string's UTF-8 length. */
const sizes: number[] = [];
/** Cold sub-messages, encoded by ts-proto in pass 1. */
const colds: Uint8Array[] = [];
let next = 0;
let nextCold = 0;
const EMPTY = Buffer.alloc(0);
let out: Buffer = EMPTY;
let at = 0;

/** Strings up to this many UTF-16 units are measured and written by a JS loop when ASCII (most header names and values). */
const SHORT_STRING = 64;

// ---- the messages -----------------------------------------------------------------------------

export function encodeConnectRequest(message: ConnectRequest): Buffer {
  begin();
  let total = 0;
  for (const frame of message.frames) total += nested(sizeAgentFrame(frame));
  startWriting(total);
  for (const frame of message.frames) {
    out[at++] = 10;
    writeVarint(sizes[next++]);
    writeAgentFrame(frame);
  }
  return finish(total);
}

export function encodeConnectResponse(message: ConnectResponse): Buffer {
  begin();
  let total = 0;
  for (const frame of message.frames) total += nested(sizeBrokerFrame(frame));
  startWriting(total);
  for (const frame of message.frames) {
    out[at++] = 10;
    writeVarint(sizes[next++]);
    writeBrokerFrame(frame);
  }
  return finish(total);
}

// ---- pass 1: sizes ----------------------------------------------------------------------------

function sizeAgentFrame(frame: AgentFrame): number {
  const slot = reserve();
  const f = frame.frame;
  let n = 0;
  if (f != null) {
    switch (f.$case) {
      case 'head': n = nested(sizeHead(f.value)); break;
      case 'data': n = nested(sizeData(f.value)); break;
      case 'credit': n = nested(sizeCredit(f.value)); break;
      case 'register': n = nested(sizeCold(Register.encode(f.value).finish())); break;
      case 'error': n = nested(sizeCold(ExchangeError.encode(f.value).finish())); break;
      case 'ping': n = nested(sizeCold(Ping.encode(f.value).finish())); break;
      case 'pong': n = nested(sizeCold(Pong.encode(f.value).finish())); break;
      case 'draining': n = nested(sizeCold(Draining.encode(f.value).finish())); break;
      case 'health': n = nested(sizeCold(HealthReport.encode(f.value).finish())); break;
    }
  }
  sizes[slot] = n;
  return n;
}

function sizeBrokerFrame(frame: BrokerFrame): number {
  const slot = reserve();
  const f = frame.frame;
  let n = 0;
  if (f != null) {
    switch (f.$case) {
      case 'open': n = nested(sizeOpen(f.value)); break;
      case 'data': n = nested(sizeData(f.value)); break;
      case 'credit': n = nested(sizeCredit(f.value)); break;
      case 'welcome': n = nested(sizeCold(Welcome.encode(f.value).finish())); break;
      case 'cancel': n = nested(sizeCold(Cancel.encode(f.value).finish())); break;
      case 'ping': n = nested(sizeCold(Ping.encode(f.value).finish())); break;
      case 'pong': n = nested(sizeCold(Pong.encode(f.value).finish())); break;
      case 'drain': n = nested(sizeCold(Drain.encode(f.value).finish())); break;
    }
  }
  sizes[slot] = n;
  return n;
}

export function sizeOpen(m: RequestOpen): number {
  const slot = reserve();
  let n = 0;
  if (m.exchangeId !== 0) n += 1 + uint32Size(m.exchangeId);
  if (m.requestId !== '') n += 1 + stringSize(m.requestId);
  if (m.method !== '') n += 1 + stringSize(m.method);
  if (m.path !== '') n += 1 + stringSize(m.path);
  if (m.query !== '') n += 1 + stringSize(m.query);
  for (const h of m.headers) n += nested(sizeHeader(h));
  if (m.body.length !== 0) n += 1 + bytesSize(m.body);
  if (m.end !== false) n += 2;
  sizes[slot] = n;
  return n;
}

export function sizeHead(m: ResponseHead): number {
  const slot = reserve();
  let n = 0;
  if (m.exchangeId !== 0) n += 1 + uint32Size(m.exchangeId);
  if (m.status !== 0) n += 1 + uint32Size(m.status);
  for (const h of m.headers) n += nested(sizeHeader(h));
  if (m.body.length !== 0) n += 1 + bytesSize(m.body);
  if (m.end !== false) n += 2;
  sizes[slot] = n;
  return n;
}

export function sizeData(m: Data): number {
  const slot = reserve();
  let n = 0;
  if (m.exchangeId !== 0) n += 1 + uint32Size(m.exchangeId);
  const bytes = dataBytes(m);
  if (bytes !== 0) n += 1 + varintSize(bytes) + bytes;
  if (m.end !== false) n += 2;
  sizes[slot] = n;
  return n;
}

function sizeCredit(m: Credit): number {
  const slot = reserve();
  let n = 0;
  if (m.exchangeId !== 0) n += 1 + uint32Size(m.exchangeId);
  if (m.bytes !== 0) n += 1 + uint32Size(m.bytes);
  sizes[slot] = n;
  return n;
}

function sizeHeader(m: Header): number {
  const slot = reserve();
  let n = 0;
  if (m.name !== '') n += 1 + stringSize(m.name);
  if (m.value !== '') n += 1 + stringSize(m.value);
  sizes[slot] = n;
  return n;
}

export function sizeCold(bytes: Uint8Array): number {
  colds.push(bytes);
  return bytes.length;
}

/** Tag (always one byte here: field numbers are below 16), length varint and the contents. */
export function nested(size: number): number {
  return 1 + varintSize(size) + size;
}

export function reserve(): number {
  sizes.push(0);
  return sizes.length - 1;
}

export function stringSize(s: string): number {
  const n = utf8Length(s);
  sizes.push(n);
  return varintSize(n) + n;
}

function bytesSize(b: Uint8Array): number {
  return varintSize(b.length) + b.length;
}

/** ts-proto's writer refuses what is not a uint32 (negative, fractional, too large): so does this one. */
function uint32Size(v: number): number {
  if (v >>> 0 !== v) throw new Error(`invalid uint32: ${v}`);
  return varintSize(v);
}

function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** UTF-8 length; lone surrogates count 3 bytes (U+FFFD), as TextEncoder and Buffer write them. */
function utf8Length(s: string): number {
  const l = s.length;
  if (l > SHORT_STRING) return Buffer.byteLength(s, 'utf8');
  for (let i = 0; i < l; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8');
  return l;
}

// ---- pass 2: bytes ----------------------------------------------------------------------------

function writeAgentFrame(frame: AgentFrame): void {
  const f = frame.frame;
  if (f == null) return;
  switch (f.$case) {
    case 'head': out[at++] = 18; writeVarint(sizes[next++]); writeHead(f.value); break;
    case 'data': out[at++] = 26; writeVarint(sizes[next++]); writeData(f.value); break;
    case 'credit': out[at++] = 42; writeVarint(sizes[next++]); writeCredit(f.value); break;
    case 'register': out[at++] = 10; writeCold(); break;
    case 'error': out[at++] = 34; writeCold(); break;
    case 'ping': out[at++] = 50; writeCold(); break;
    case 'pong': out[at++] = 58; writeCold(); break;
    case 'draining': out[at++] = 66; writeCold(); break;
    case 'health': out[at++] = 74; writeCold(); break;
  }
}

function writeBrokerFrame(frame: BrokerFrame): void {
  const f = frame.frame;
  if (f == null) return;
  switch (f.$case) {
    case 'open': out[at++] = 18; writeVarint(sizes[next++]); writeOpen(f.value); break;
    case 'data': out[at++] = 26; writeVarint(sizes[next++]); writeData(f.value); break;
    case 'credit': out[at++] = 42; writeVarint(sizes[next++]); writeCredit(f.value); break;
    case 'welcome': out[at++] = 10; writeCold(); break;
    case 'cancel': out[at++] = 34; writeCold(); break;
    case 'ping': out[at++] = 50; writeCold(); break;
    case 'pong': out[at++] = 58; writeCold(); break;
    case 'drain': out[at++] = 66; writeCold(); break;
  }
}

export function writeOpen(m: RequestOpen): void {
  if (m.exchangeId !== 0) { out[at++] = 8; writeVarint(m.exchangeId); }
  if (m.requestId !== '') { out[at++] = 18; writeString(m.requestId); }
  if (m.method !== '') { out[at++] = 26; writeString(m.method); }
  if (m.path !== '') { out[at++] = 34; writeString(m.path); }
  if (m.query !== '') { out[at++] = 42; writeString(m.query); }
  for (const h of m.headers) { out[at++] = 50; writeVarint(sizes[next++]); writeHeader(h); }
  if (m.body.length !== 0) { out[at++] = 58; writeBytes(m.body); }
  if (m.end !== false) { out[at++] = 64; out[at++] = m.end ? 1 : 0; }
}

export function writeHead(m: ResponseHead): void {
  if (m.exchangeId !== 0) { out[at++] = 8; writeVarint(m.exchangeId); }
  if (m.status !== 0) { out[at++] = 16; writeVarint(m.status); }
  for (const h of m.headers) { out[at++] = 26; writeVarint(sizes[next++]); writeHeader(h); }
  if (m.body.length !== 0) { out[at++] = 34; writeBytes(m.body); }
  if (m.end !== false) { out[at++] = 40; out[at++] = m.end ? 1 : 0; }
}

export function writeData(m: Data): void {
  if (m.exchangeId !== 0) { out[at++] = 8; writeVarint(m.exchangeId); }
  if (m instanceof GatheredData) {
    if (m.byteLength !== 0) {
      out[at++] = 18;
      writeVarint(m.byteLength);
      for (const part of m.parts) {
        out.set(part, at);
        at += part.length;
      }
    }
  } else if (m.chunk.length !== 0) { out[at++] = 18; writeBytes(m.chunk); }
  if (m.end !== false) { out[at++] = 24; out[at++] = m.end ? 1 : 0; }
}

function writeCredit(m: Credit): void {
  if (m.exchangeId !== 0) { out[at++] = 8; writeVarint(m.exchangeId); }
  if (m.bytes !== 0) { out[at++] = 16; writeVarint(m.bytes); }
}

function writeHeader(m: Header): void {
  if (m.name !== '') { out[at++] = 10; writeString(m.name); }
  if (m.value !== '') { out[at++] = 18; writeString(m.value); }
}

export function writeCold(): void {
  const bytes = colds[nextCold++];
  writeVarint(bytes.length);
  out.set(bytes, at);
  at += bytes.length;
}

function writeBytes(b: Uint8Array): void {
  writeVarint(b.length);
  out.set(b, at);
  at += b.length;
}

export function writeString(s: string): void {
  const n = sizes[next++];
  writeVarint(n);
  if (n !== s.length) out.write(s, at, n, 'utf8');
  else if (n <= SHORT_STRING) for (let i = 0; i < n; i++) out[at + i] = s.charCodeAt(i);
  // As many bytes as units: all ASCII, for which latin1 is the same bytes and a cheaper write.
  else out.write(s, at, n, 'latin1');
  at += n;
}

/** A tag (every tag here is one byte). */
export function writeTag(tag: number): void {
  out[at++] = tag;
}

/** The next length pass 1 left, as a varint: a nested message's, before its fields. */
export function writeNextLength(): void {
  writeVarint(sizes[next++]);
}

/** Pass 1 is done with the message in `slot` (from reserve()): its size. */
export function fill(slot: number, size: number): void {
  sizes[slot] = size;
}

function writeVarint(v: number): void {
  while (v > 0x7f) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
}

// ---- state ------------------------------------------------------------------------------------

export function begin(): void {
  sizes.length = 0;
  colds.length = 0;
  next = 0;
  nextCold = 0;
}

export function startWriting(total: number): void {
  out = Buffer.allocUnsafe(total);
  at = 0;
}

export function finish(total: number): Buffer {
  const done = out;
  const written = at;
  out = EMPTY;
  colds.length = 0;
  // The two passes disagreeing would send garbage (allocUnsafe memory) to the peer: refuse instead.
  if (written !== total) throw new Error(`frame encoder wrote ${written} bytes of a ${total}-byte message: the size and write passes disagree (a bug in frame-encoder.ts)`);
  return done;
}
