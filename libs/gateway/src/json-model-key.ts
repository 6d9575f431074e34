/**
 * Recognising the top-level "model" key of a request body, and decoding the captured model name
 * (the JSON body check finds both, see json-object-scanner.ts).
 */

const MODEL_KEY = Buffer.from('model');

/** {@link isModelKey} of chunk[from, to), without copying the bytes unless they hold an escape. */
export function isModelKeyAt(chunk: Uint8Array, from: number, to: number): boolean {
  const n = to - from;
  if (n === MODEL_KEY.length) {
    for (let i = 0; i < n; i++) if (chunk[from + i] !== MODEL_KEY[i]) return false;
    return true;
  }
  // Spelt with escapes ("m\u006fdel") it is longer, and holds a backslash.
  if (n < MODEL_KEY.length || !chunk.subarray(from, to).includes(0x5c)) return false;
  return isModelKey(Buffer.from(chunk.subarray(from, to)));
}

/** Whether a top-level key's raw bytes (between its quotes) spell "model", escapes decoded. */
export function isModelKey(raw: Buffer): boolean {
  if (raw.equals(MODEL_KEY)) return true;
  if (!raw.includes(0x5c)) return false;
  // Small (≤ MAX_KEY_BYTES) and already checked to be a well-formed string.
  return JSON.parse(`"${raw.toString('utf8')}"`) === 'model';
}

/** Decodes a captured model value (raw bytes between the quotes, checked by the scanner). */
export function decodeJsonString(raw: Buffer): string {
  return raw.includes(0x5c) ? (JSON.parse(`"${raw.toString('utf8')}"`) as string) : raw.toString('utf8');
}
