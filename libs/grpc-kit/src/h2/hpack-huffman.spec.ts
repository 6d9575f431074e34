import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { H2_ERROR } from './h2-errors';
import { huffmanDecode, huffmanDecodedMaxLength, huffmanEncode } from './hpack-huffman';
import { HUFFMAN_CODES, HUFFMAN_EOS, HUFFMAN_LENGTHS } from './hpack-huffman-table';

function decode(bytes: Uint8Array): Buffer {
  const dst = Buffer.alloc(huffmanDecodedMaxLength(bytes.length));
  return dst.subarray(0, huffmanDecode(bytes, 0, bytes.length, dst));
}

const compressionError = expect.objectContaining({ name: 'H2ConnectionError', code: H2_ERROR.COMPRESSION_ERROR });

describe('the Huffman table', () => {
  it('is the canonical code its lengths imply, and complete (Kraft sum 1)', () => {
    // RFC 7541's code is canonical: sorted by (length, symbol), each code is the previous + 1,
    // shifted left when the length grows. A mistyped code or length breaks this.
    const order = [...HUFFMAN_CODES.keys()].sort((a, b) => HUFFMAN_LENGTHS[a] - HUFFMAN_LENGTHS[b] || a - b);
    let code = 0;
    let bits = HUFFMAN_LENGTHS[order[0]];
    for (const sym of order) {
      code *= 2 ** (HUFFMAN_LENGTHS[sym] - bits);
      bits = HUFFMAN_LENGTHS[sym];
      expect([sym, HUFFMAN_CODES[sym]]).toEqual([sym, code]);
      code++;
    }
    expect(HUFFMAN_CODES.length).toBe(257);
    expect(HUFFMAN_LENGTHS.reduce((sum, n) => sum + 2 ** -n, 0)).toBe(1);
    expect([HUFFMAN_CODES[HUFFMAN_EOS], HUFFMAN_LENGTHS[HUFFMAN_EOS]]).toEqual([0x3fffffff, 30]);
  });
});

describe('huffmanDecode', () => {
  it('round-trips every byte value, and random byte strings', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(decode(huffmanEncode(all))).toEqual(all);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(decode(huffmanEncode(bytes))).toEqual(Buffer.from(bytes));
      }),
    );
  });

  it('accepts an empty string and up to 7 bits of all-ones padding', () => {
    expect(decode(Buffer.alloc(0)).length).toBe(0);
    expect(decode(Buffer.from([0x1f])).toString()).toBe('a'); // 'a' = 00011 + 111 padding
    expect(decode(Buffer.from([0x00, 0x3f])).toString()).toBe('00'); // 00000 00000 + 6 ones
    expect(decode(huffmanEncode(Buffer.from('a:a'))).toString()).toBe('a:a'); // 5 + 7 + 5 bits + 7 ones
    expect(huffmanEncode(Buffer.from('a:a'))[2] & 0x7f).toBe(0x7f);
  });

  it.each([
    ['EOS inside the string', 'fffffffc'], // 30 ones, then padding
    ['EOS after a symbol', '1fffffffff'],
    ['padding that is not all ones', '18'], // 'a' + 000
    ['padding of a whole byte', '1fff'], // 'a' + 111 + 8 ones
    ['padding of eight ones alone', 'ff'],
    ['zero padding after a 5-bit code', '00'],
  ])('rejects %s with COMPRESSION_ERROR', (_what, hex) => {
    expect(() => decode(Buffer.from(hex, 'hex'))).toThrow(compressionError);
  });

  it('agrees with a bit-by-bit reference decoder on random bytes, valid or not', () => {
    // RFC 7541 5.2 read literally: match codes bit by bit; EOS is an error; the leftover bits
    // must be fewer than 8 and all ones.
    const symbolOf = new Map(HUFFMAN_CODES.map((code, sym) => [`${HUFFMAN_LENGTHS[sym]}:${code}`, sym]));
    const reference = (bytes: Uint8Array): number[] | 'error' => {
      const out: number[] = [];
      let code = 0;
      let bits = 0;
      for (const byte of bytes) {
        for (let i = 7; i >= 0; i--) {
          code = code * 2 + ((byte >>> i) & 1);
          bits++;
          const sym = symbolOf.get(`${bits}:${code}`);
          if (sym === undefined) continue;
          if (sym === HUFFMAN_EOS) return 'error';
          out.push(sym);
          code = bits = 0;
        }
      }
      return bits < 8 && code === 2 ** bits - 1 ? out : 'error';
    };
    const ours = (bytes: Uint8Array): number[] | 'error' => {
      try {
        return [...decode(bytes)];
      } catch {
        return 'error';
      }
    };
    const nearlyValid = fc.uint8Array({ maxLength: 30 }).chain((text) => {
      const code = huffmanEncode(text);
      return fc.tuple(fc.nat(Math.max(0, code.length - 1)), fc.nat(255)).map(([at, b]) => {
        const copy = Buffer.from(code);
        if (copy.length > 0) copy[at] = b;
        return copy;
      });
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 24 }), nearlyValid), (bytes) => {
        expect(ours(bytes)).toEqual(reference(bytes));
      }),
      { numRuns: 5000 },
    );
  });

  it('never throws anything but a COMPRESSION_ERROR on random bytes, nor writes past its bound', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const dst = new Uint8Array(huffmanDecodedMaxLength(bytes.length) + 8).fill(0xaa);
        try {
          const n = huffmanDecode(bytes, 0, bytes.length, dst);
          expect(n).toBeLessThanOrEqual(huffmanDecodedMaxLength(bytes.length));
        } catch (err) {
          expect(err).toEqual(compressionError);
        }
        expect(dst.subarray(huffmanDecodedMaxLength(bytes.length)).every((b) => b === 0xaa)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
