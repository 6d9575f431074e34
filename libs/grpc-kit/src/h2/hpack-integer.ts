/*
 * HPACK's N-bit-prefix integers (RFC 7541 5.1), encoding side. The decoder reads them inline
 * (HpackDecoder.readInteger) with its own bounds checks.
 */

/** Bytes `value` takes as an integer with a `prefixBits`-bit prefix. */
export function integerLength(value: number, prefixBits: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) return 1;
  let length = 2;
  for (value -= max; value >= 128; value = Math.floor(value / 128)) length++;
  return length;
}

/**
 * Writes `value` at `pos` with a `prefixBits`-bit prefix, `firstBits` being the representation's
 * pattern in the first byte's high bits; returns the next position.
 */
export function writeInteger(out: Uint8Array, pos: number, value: number, prefixBits: number, firstBits: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out[pos++] = firstBits | value;
    return pos;
  }
  out[pos++] = firstBits | max;
  for (value -= max; value >= 128; value = Math.floor(value / 128)) out[pos++] = (value % 128) | 0x80;
  out[pos++] = value;
  return pos;
}

/** `value` as a standalone integer (for specs and for building blocks by hand). */
export function encodeInteger(value: number, prefixBits: number, firstBits = 0): Buffer {
  const out = Buffer.alloc(integerLength(value, prefixBits));
  writeInteger(out, 0, value, prefixBits, firstBits);
  return out;
}
