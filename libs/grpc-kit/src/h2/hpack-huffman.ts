import { H2_ERROR, H2ConnectionError } from './h2-errors';
import { HUFFMAN_CODES, HUFFMAN_EOS, HUFFMAN_LENGTHS } from './hpack-huffman-table';

/*
 * Huffman decoding a byte at a time: the code tree has 257 leaves, so 256 inner nodes, and each
 * inner node is a state. TRANSITIONS[state * 256 + byte] says where eight more bits lead and which
 * bytes (at most two: the shortest code is 5 bits) they complete. One table read per input byte,
 * no per-bit loop, no string building: bytes go into a caller's buffer and become a string once.
 * The table is 256 KiB, built on first use from a nibble table (a few ms), so processes that never
 * decode a Huffman string do not pay for it.
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
  // Four bits at a time first (4,096 entries of at most one byte each, as the shortest code is
  // 5 bits), then each byte entry as two nibble steps: an eighth of the tree walking, since the
  // table is built on a connection's first request.
  const nibbles = new Uint32Array(256 * 16); // next | byte << 8 | count << 24, or FAIL
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
        if (next >= 0) {
          node = next;
          continue;
        }
        const sym = -next - 1;
        if (sym === HUFFMAN_EOS) {
          entry = FAIL; // EOS inside a string is a decoding error (RFC 7541 5.2)
          break;
        }
        entry = (sym << 8) | (1 << COUNT_SHIFT);
        node = 0;
      }
      nibbles[state * 16 + nibble] = entry & FAIL ? FAIL : entry | node;
    }
  }
  const transitions = new Uint32Array(256 * 256);
  for (let state = 0; state < 256; state++) {
    for (let byte = 0; byte < 256; byte++) {
      const high = nibbles[state * 16 + (byte >>> 4)];
      const low = high & FAIL ? FAIL : nibbles[(high & 0xff) * 16 + (byte & 0x0f)];
      if (low & FAIL) {
        transitions[state * 256 + byte] = FAIL;
        continue;
      }
      const highCount = high >>> COUNT_SHIFT;
      const lowCount = low >>> COUNT_SHIFT;
      // Bytes in the order they complete: the high nibble's (if any) first.
      const emitted = highCount ? ((high >>> 8) & 0xff) | (((low >>> 8) & 0xff) << 8) : (low >>> 8) & 0xff;
      transitions[state * 256 + byte] = (low & 0xff) | (emitted << 8) | ((highCount + lowCount) << COUNT_SHIFT);
    }
  }
  ACCEPTING = accepting;
  return transitions;
}

/**
 * Builds the decoding table now rather than on the first Huffman string, so that a server can pay
 * its few milliseconds when it starts listening instead of on its first connection's event-loop turn.
 */
export function prepareHuffmanDecoder(): void {
  TRANSITIONS ??= buildDecoderTables();
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
