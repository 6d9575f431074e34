import { H2_ERROR, H2ConnectionError } from './h2-errors';
import { HUFFMAN_CODES, HUFFMAN_EOS, HUFFMAN_LENGTHS } from './hpack-huffman-table';

/*
 * Huffman decoding a byte at a time: the code tree has 257 leaves, so 256 inner nodes, and each
 * inner node is a state. TRANSITIONS[state * 256 + byte] says where eight more bits lead and which
 * bytes (at most two: the shortest code is 5 bits) they complete. One table read per input byte,
 * no per-bit loop, no string building: bytes go into a caller's buffer and become a string once.
 * The table is 256 KiB, built on first use (about 1 ms), so processes that never decode a
 * Huffman string do not pay for it.
 */

/** TRANSITIONS entry: next state (bits 0-7) | first byte << 8 | second byte << 16 | count << 24 | FAIL. */
const COUNT_SHIFT = 24;
const FAIL = 1 << 26;

let TRANSITIONS: Uint32Array | undefined;
let ACCEPTING: Uint8Array | undefined;

function buildDecoderTables(): Uint32Array {
  // Inner nodes 1..255 (root is 0); a child < 0 is the leaf of symbol -child - 1; 0 means none yet.
  const child0 = new Int32Array(256);
  const child1 = new Int32Array(256);
  const depth = new Uint8Array(256);
  const allOnes = new Uint8Array(256);
  allOnes[0] = 1;
  let nodes = 1;
  for (let sym = 0; sym <= HUFFMAN_EOS; sym++) {
    const code = HUFFMAN_CODES[sym];
    const bits = HUFFMAN_LENGTHS[sym];
    let node = 0;
    for (let bit = bits - 1; bit > 0; bit--) {
      const one = (code >>> bit) & 1;
      const children = one ? child1 : child0;
      if (children[node] === 0) {
        if (nodes === 256) throw new Error('hpack-huffman-table.ts is not a prefix code');
        depth[nodes] = depth[node] + 1;
        allOnes[nodes] = allOnes[node] & one;
        children[node] = nodes++;
      }
      node = children[node];
    }
    (code & 1 ? child1 : child0)[node] = -sym - 1;
  }
  const transitions = new Uint32Array(256 * 256);
  const accepting = new Uint8Array(256);
  for (let state = 0; state < 256; state++) {
    // RFC 7541 5.2: the bits after the last whole code must be a prefix of EOS (all ones) of at
    // most 7 bits. The bits since the last code are exactly the path from the root to `state`.
    accepting[state] = state === 0 || (allOnes[state] && depth[state] <= 7) ? 1 : 0;
    for (let byte = 0; byte < 256; byte++) {
      let node = state;
      let emitted = 0;
      let count = 0;
      let fail = false;
      for (let i = 7; i >= 0 && !fail; i--) {
        const next = (byte >>> i) & 1 ? child1[node] : child0[node];
        if (next < 0) {
          const sym = -next - 1;
          // EOS inside a string is a decoding error (RFC 7541 5.2).
          if (sym === HUFFMAN_EOS) fail = true;
          emitted |= sym << (8 * count++);
          node = 0;
        } else {
          node = next;
        }
      }
      transitions[state * 256 + byte] = fail ? FAIL : node | (emitted << 8) | (count << COUNT_SHIFT);
    }
  }
  ACCEPTING = accepting;
  return transitions;
}

/** Most bytes `length` Huffman-coded octets can decode to (the shortest code is 5 bits). */
export function huffmanDecodedMaxLength(length: number): number {
  return Math.floor((length * 8) / 5);
}

/**
 * Decodes src[start, end) into dst from offset 0; returns the number of bytes written. dst must hold
 * huffmanDecodedMaxLength(end - start) bytes. Throws H2ConnectionError(COMPRESSION_ERROR) on EOS in
 * the string or on padding that is longer than 7 bits or not all ones.
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number, dst: Uint8Array): number {
  const transitions = TRANSITIONS ?? (TRANSITIONS = buildDecoderTables());
  let state = 0;
  let out = 0;
  for (let i = start; i < end; i++) {
    const t = transitions[(state << 8) | src[i]];
    if (t & FAIL) throw huffmanError('contains EOS');
    const count = t >>> COUNT_SHIFT;
    if (count !== 0) {
      dst[out++] = (t >>> 8) & 0xff;
      if (count === 2) dst[out++] = (t >>> 16) & 0xff;
    }
    state = t & 0xff;
  }
  if (!ACCEPTING![state]) throw huffmanError('ends with padding that is not a prefix of EOS of at most 7 bits');
  return out;
}

function huffmanError(what: string): H2ConnectionError {
  return new H2ConnectionError(H2_ERROR.COMPRESSION_ERROR, `HPACK: a Huffman-coded string ${what} (RFC 7541 5.2)`);
}

/** Length in bytes of `bytes` Huffman-coded. */
export function huffmanEncodedLength(bytes: Uint8Array): number {
  let bits = 0;
  for (let i = 0; i < bytes.length; i++) bits += HUFFMAN_LENGTHS[bytes[i]];
  return Math.ceil(bits / 8);
}

/**
 * Huffman-codes `bytes`, padded with ones. Our encoder does not use it (the broker's headers are
 * short and mostly static-table hits); it exists for specs and for a future encoder option.
 */
export function huffmanEncode(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(huffmanEncodedLength(bytes));
  let acc = 0; // pending bits, right-aligned; at most 7 + 30 bits, so keep it below 2^53 with a number
  let pending = 0;
  let o = 0;
  for (let i = 0; i < bytes.length; i++) {
    const bits = HUFFMAN_LENGTHS[bytes[i]];
    acc = acc * 2 ** bits + HUFFMAN_CODES[bytes[i]];
    pending += bits;
    while (pending >= 8) {
      pending -= 8;
      out[o++] = Math.floor(acc / 2 ** pending) & 0xff;
      acc %= 2 ** pending;
    }
  }
  if (pending > 0) out[o] = ((acc << (8 - pending)) | (0xff >>> pending)) & 0xff;
  return out;
}
