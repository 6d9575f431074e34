import { H2_ERROR, H2ConnectionError } from './h2-errors';
import { HUFFMAN_CODES, HUFFMAN_EOS, HUFFMAN_LENGTHS } from './hpack-huffman-table';

/*
 * Huffman decoding four bits at a time, the way nghttp2 does it: the code tree has 257 leaves, so
 * 256 inner nodes, and each inner node is a state. TRANSITIONS[state * 16 + nibble] says where four
 * more bits lead and which byte (if any) they complete. The shortest code is 5 bits, so one nibble
 * completes at most one byte. Two table reads per input byte, no per-bit loop, no string building:
 * bytes go into a caller's buffer and become a string once.
 */

/** TRANSITIONS entry bits: next state (0..255) | emitted byte << 8 | flags. */
const EMIT = 1 << 16;
const FAIL = 1 << 17;

const { transitions: TRANSITIONS, accepting: ACCEPTING } = buildDecoderTables();

function buildDecoderTables(): { transitions: Uint32Array; accepting: Uint8Array } {
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
  const transitions = new Uint32Array(256 * 16);
  const accepting = new Uint8Array(256);
  for (let state = 0; state < 256; state++) {
    // RFC 7541 5.2: the bits after the last whole code must be a prefix of EOS (all ones) of at
    // most 7 bits. The bits since the last code are exactly the path from the root to `state`.
    accepting[state] = state === 0 || (allOnes[state] && depth[state] <= 7) ? 1 : 0;
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let entry = 0;
      for (let i = 3; i >= 0; i--) {
        const next = (nibble >>> i) & 1 ? child1[node] : child0[node];
        if (next < 0) {
          const sym = -next - 1;
          if (sym === HUFFMAN_EOS) {
            entry = FAIL; // EOS inside a string is a decoding error (RFC 7541 5.2)
            break;
          }
          entry = EMIT | (sym << 8);
          node = 0;
        } else {
          node = next;
        }
      }
      transitions[state * 16 + nibble] = entry & FAIL ? FAIL : entry | node;
    }
  }
  return { transitions, accepting };
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
  let state = 0;
  let out = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i];
    let t = TRANSITIONS[(state << 4) | (byte >>> 4)];
    if (t & FAIL) throw huffmanError('contains EOS');
    if (t & EMIT) dst[out++] = (t >>> 8) & 0xff;
    state = t & 0xff;
    t = TRANSITIONS[(state << 4) | (byte & 0x0f)];
    if (t & FAIL) throw huffmanError('contains EOS');
    if (t & EMIT) dst[out++] = (t >>> 8) & 0xff;
    state = t & 0xff;
  }
  if (!ACCEPTING[state]) throw huffmanError('ends with padding that is not a prefix of EOS of at most 7 bits');
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
