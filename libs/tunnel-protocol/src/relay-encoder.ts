import { ExchangeError, type ExchangeRequest, type ExchangeResponse, type RelayOpen } from '@st/proto';
import {
  begin,
  fill,
  finish,
  nested,
  reserve,
  sizeCold,
  sizeData,
  sizeHead,
  sizeOpen,
  startWriting,
  stringSize,
  writeCold,
  writeData,
  writeHead,
  writeNextLength,
  writeOpen,
  writeString,
  writeTag,
} from './frame-encoder';

/*
 * RelayService's messages (gateway ↔ broker, one exchange per call), encoded as frame-encoder.ts
 * encodes the agent stream's: ts-proto's bytes, in two passes into one buffer.
 */

/** RelayService's client frame (gateway → broker). */
export function encodeExchangeRequest(message: ExchangeRequest): Buffer {
  begin();
  const f = message.frame;
  let total = 0;
  if (f != null) {
    if (f.$case === 'open') total = nested(sizeRelayOpen(f.value));
    else if (f.$case === 'data') total = nested(sizeData(f.value));
  }
  startWriting(total);
  if (f != null) {
    if (f.$case === 'open') {
      writeTag(10);
      writeNextLength();
      writeRelayOpen(f.value);
    } else if (f.$case === 'data') {
      writeTag(18);
      writeNextLength();
      writeData(f.value);
    }
  }
  return finish(total);
}

/** RelayService's server frame (broker → gateway). */
export function encodeExchangeResponse(message: ExchangeResponse): Buffer {
  begin();
  const f = message.frame;
  let total = 0;
  if (f != null) {
    if (f.$case === 'head') total = nested(sizeHead(f.value));
    else if (f.$case === 'data') total = nested(sizeData(f.value));
    else if (f.$case === 'error') total = nested(sizeCold(ExchangeError.encode(f.value).finish()));
  }
  startWriting(total);
  if (f != null) {
    if (f.$case === 'head') {
      writeTag(10);
      writeNextLength();
      writeHead(f.value);
    } else if (f.$case === 'data') {
      writeTag(18);
      writeNextLength();
      writeData(f.value);
    } else if (f.$case === 'error') {
      writeTag(26);
      writeCold();
    }
  }
  return finish(total);
}

function sizeRelayOpen(m: RelayOpen): number {
  const slot = reserve();
  let n = 0;
  if (m.tunnelId !== '') n += 1 + stringSize(m.tunnelId);
  if (m.userId !== '') n += 1 + stringSize(m.userId);
  if (m.request !== undefined) n += nested(sizeOpen(m.request));
  if (m.streamId !== '') n += 1 + stringSize(m.streamId);
  fill(slot, n);
  return n;
}

function writeRelayOpen(m: RelayOpen): void {
  if (m.tunnelId !== '') { writeTag(10); writeString(m.tunnelId); }
  if (m.userId !== '') { writeTag(18); writeString(m.userId); }
  if (m.request !== undefined) { writeTag(26); writeNextLength(); writeOpen(m.request); }
  if (m.streamId !== '') { writeTag(34); writeString(m.streamId); }
}
