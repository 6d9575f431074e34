/**
 * Recognising the top-level keys of a request body that the gateway reads ("model", and for usage
 * accounting "stream" and "stream_options"), and decoding the captured model name (the JSON body
 * check finds them, see json-object-scanner.ts).
 */

import { bytesAt } from './json-top-members';

const MODEL_KEY = Buffer.from('model');
const STREAM_KEY = Buffer.from('stream');
const STREAM_OPTIONS_KEY = Buffer.from('stream_options');

/** What a top-level key is, for the members the gateway reads. */
export const KEY_OTHER = 0;
export const KEY_MODEL = 1;
export const KEY_STREAM = 2;
export const KEY_STREAM_OPTIONS = 3;

/**
 * What the key chunk[from, to) (raw bytes between its quotes, checked well-formed) spells. Looked
 * through in JS: keys are short, and a native search or a view per key cost more (c=64 profiles);
 * only a key with an escape ("m\u006fdel") is decoded.
 */
export function keyKindAt(chunk: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) if (chunk[i] === 0x5c) return escapedKeyKind(Buffer.from(chunk.subarray(from, to)));
  const n = to - from;
  if (n === MODEL_KEY.length) return bytesAt(chunk, from, to, MODEL_KEY) ? KEY_MODEL : KEY_OTHER;
  if (n === STREAM_KEY.length) return bytesAt(chunk, from, to, STREAM_KEY) ? KEY_STREAM : KEY_OTHER;
  if (n === STREAM_OPTIONS_KEY.length) return bytesAt(chunk, from, to, STREAM_OPTIONS_KEY) ? KEY_STREAM_OPTIONS : KEY_OTHER;
  return KEY_OTHER;
}

function escapedKeyKind(raw: Buffer): number {
  // Small (≤ the capture's key limit) and already checked to be a well-formed string.
  const key = JSON.parse(`"${raw.toString('utf8')}"`) as string;
  return key === 'model' ? KEY_MODEL : key === 'stream' ? KEY_STREAM : key === 'stream_options' ? KEY_STREAM_OPTIONS : KEY_OTHER;
}

/** Decodes a captured model value (raw bytes between the quotes, checked by the scanner). */
export function decodeJsonString(raw: Buffer): string {
  return raw.includes(0x5c) ? (JSON.parse(`"${raw.toString('utf8')}"`) as string) : raw.toString('utf8');
}
