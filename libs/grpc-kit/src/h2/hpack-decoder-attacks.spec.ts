import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { H2_ERROR, H2ConnectionError } from './h2-errors';
import { HpackDecoder } from './hpack-decoder';
import { huffmanEncode } from './hpack-huffman';
import { encodeInteger } from './hpack-integer';

// What a hostile client can put in a header block. Each must end in COMPRESSION_ERROR (the
// connection closes), or be bounded by maxTableSize / maxHeaderListBytes; nothing may hang,
// throw anything else, or allocate in proportion to what the peer claims rather than sends.

const bytes = (...parts: Array<number[] | string | Buffer>) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
/** A 7-bit-prefix string literal, raw. */
const raw = (s: string) => bytes([s.length < 127 ? s.length : 127], s.length < 127 ? [] : int7Rest(s.length), s);
function int7Rest(n: number): number[] {
  const out: number[] = [];
  for (n -= 127; n >= 128; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
  out.push(n);
  return out;
}
/** A 7-bit-prefix string literal, Huffman-coded. */
function huffman(s: string): Buffer {
  const code = huffmanEncode(Buffer.from(s, 'latin1'));
  return bytes(code.length < 127 ? [0x80 | code.length] : [0xff, ...int7Rest(code.length)], code);
}
/** Literal with incremental indexing, new name. */
const indexed = (name: string, value: string) => bytes([0x40], raw(name), raw(value));
const compressionError = expect.objectContaining({ name: 'H2ConnectionError', code: H2_ERROR.COMPRESSION_ERROR });

function decodeError(block: Buffer, decoder = new HpackDecoder()): unknown {
  try {
    decoder.decode(block);
  } catch (err) {
    return err;
  }
  throw new Error(`decoded ${block.toString('hex')} without an error`);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('HpackDecoder against malformed integers', () => {
  it.each([
    ['one that ends with the block', [0xff]],
    ['one with a continuation bit on its last byte', [0xff, 0x80]],
    ['an overlong one (zero continuation bytes past five)', [0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]],
    ['one above 2^32 - 1', [0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]],
    ['a string length above 2^32 - 1', [0x40, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x0f]],
  ])('rejects %s', (_what, block) => {
    expect(decodeError(Buffer.from(block))).toEqual(compressionError);
  });

  it('reads 2^32 - 1 itself (then finds no such index)', () => {
    // 127 + 0x7f + 0x7f<<7 + ... = 2^32 - 1 in five continuation bytes
    const max = 2 ** 32 - 1 - 127;
    const cont = [max % 128 | 0x80, Math.floor(max / 128) % 128 | 0x80, Math.floor(max / 128 ** 2) % 128 | 0x80, Math.floor(max / 128 ** 3) % 128 | 0x80, Math.floor(max / 128 ** 4)];
    expect((decodeError(Buffer.from([0xff, ...cont])) as Error).message).toContain(`index ${2 ** 32 - 1} is past the end`);
  });
});

describe('HpackDecoder against bad strings and indexes', () => {
  it.each([
    ['a name longer than the block', bytes([0x40, 0x05], 'ab')],
    ['a value longer than the block', bytes([0x40], raw('a'), [0x7f, 0x80, 0x01], 'xyz')],
    ['a literal cut before its value', bytes([0x40], raw('a'))],
    ['a literal with an indexed name cut before its value', bytes([0x44])],
    ['a Huffman name containing EOS', bytes([0x40, 0x84, 0xff, 0xff, 0xff, 0xff], raw('v'))],
    ['a Huffman value with zero padding', bytes([0x40], raw('a'), [0x81, 0x18])],
    ['a Huffman value with 8 bits of padding', bytes([0x04, 0x82, 0x1f, 0xff])],
    ['index 0', bytes([0x80])],
    ['index 62 with an empty dynamic table', bytes([0xbe])],
    ['a literal naming index 62 with an empty dynamic table', bytes([0x7e], raw('v'))],
    ['a table size update above our SETTINGS_HEADER_TABLE_SIZE of 4096', bytes([0x3f, 0xe2, 0x1f])],
    ['a table size update after a field', bytes([0x82, 0x20])],
    ['a table size update after a literal field', bytes([0x04], raw('/'), [0x3f, 0xe1, 0x01])],
  ])('rejects %s', (_what, block) => {
    expect(decodeError(block)).toEqual(compressionError);
  });

  it('accepts index 61, the last static entry, and table size updates at the start', () => {
    const decoder = new HpackDecoder();
    expect(decoder.decode(bytes([0x3f, 0xe1, 0x01, 0x20, 0x3f, 0xe1, 0x1f, 0xbd])).headers).toEqual([['www-authenticate', '']]);
  });

  it('cannot be made to hold more than maxTableSize, whatever the updates and entries', () => {
    const field = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), name: fc.string({ maxLength: 40 }), value: fc.string({ maxLength: 300 }) }),
      fc.record({ kind: fc.constant('resize' as const), size: fc.nat(600) }),
    );
    fc.assert(
      fc.property(fc.array(fc.array(field, { maxLength: 8 }), { maxLength: 8 }), (blocks) => {
        const decoder = new HpackDecoder({ maxTableSize: 512 });
        decoder.settingsAcknowledged();
        decoder.decode(encodeInteger(512, 5, 0x20)); // the update the ACK requires
        let max = 512;
        for (const fields of blocks) {
          // size updates may only lead a block
          const resizes = fields.filter((f) => f.kind === 'resize');
          const adds = fields.filter((f) => f.kind === 'add');
          const parts: Buffer[] = [];
          for (const r of resizes) parts.push(encodeInteger(r.size, 5, 0x20));
          for (const a of adds) parts.push(indexed(Buffer.from(a.name, 'latin1').toString('latin1'), Buffer.from(a.value, 'latin1').toString('latin1')));
          const block = Buffer.concat(parts);
          if (resizes.some((r) => r.size > 512)) {
            expect(decodeError(block, decoder)).toEqual(compressionError);
            return;
          }
          if (resizes.length > 0) max = resizes[resizes.length - 1].size;
          decoder.decode(block);
          expect(decoder.dynamicTableSize).toBeLessThanOrEqual(max);
        }
      }),
    );
  });

  it('holds a peer to a smaller SETTINGS_HEADER_TABLE_SIZE only once it has ACKed it', () => {
    const decoder = new HpackDecoder({ maxTableSize: 256 });
    // Before the ACK the peer may still use the protocol's 4096 octets (RFC 9113 6.5.3).
    decoder.decode(Buffer.concat([encodeInteger(4096, 5, 0x20), indexed('a', 'x'.repeat(300))]));
    expect(decoder.dynamicTableSize).toBe(333);
    expect(decodeError(encodeInteger(4097, 5, 0x20), decoder)).toEqual(compressionError);
    const acked = new HpackDecoder({ maxTableSize: 256 });
    acked.decode(indexed('a', 'x'.repeat(300)));
    acked.settingsAcknowledged();
    // Now the next block must shrink the table first (RFC 7541 4.2) ...
    expect(decodeError(bytes([0x82]), acked)).toEqual(compressionError);
    const again = new HpackDecoder({ maxTableSize: 256 });
    again.settingsAcknowledged();
    expect(decodeError(Buffer.concat([encodeInteger(257, 5, 0x20), bytes([0x82])]), again)).toEqual(compressionError);
    const ok = new HpackDecoder({ maxTableSize: 256 });
    ok.decode(indexed('a', 'x'.repeat(300)));
    ok.settingsAcknowledged();
    expect(ok.decode(Buffer.concat([encodeInteger(256, 5, 0x20), bytes([0x82])])).headers).toEqual([[':method', 'GET']]);
    expect(ok.dynamicTableLength).toBe(0); // the 333-octet entry no longer fits
    expect(ok.decode(bytes([0x82])).headers).toEqual([[':method', 'GET']]); // and no further update is needed
  });

  it('empties the table for an entry larger than it (RFC 7541 4.4)', () => {
    const decoder = new HpackDecoder();
    decoder.decode(Buffer.concat([encodeInteger(100, 5, 0x20), indexed('a', 'b')]));
    expect(decoder.dynamicTableLength).toBe(1);
    expect(decoder.decode(indexed('big', 'x'.repeat(100))).headers).toEqual([['big', 'x'.repeat(100)]]);
    expect(decoder.dynamicTableLength).toBe(0);
  });
});

describe('HpackDecoder against oversized header lists', () => {
  it('stops an HPACK bomb (one big entry referenced many times) without building strings', () => {
    const decoder = new HpackDecoder({ maxHeaderListBytes: 16384 });
    expect(decoder.decode(indexed('x', 'v'.repeat(4000))).oversize).toBe(false);
    const toString = vi.spyOn(Buffer.prototype, 'toString');
    const bomb = Buffer.alloc(100_000, 0xbe); // 100 kB that would name 400 MB of headers
    expect(decoder.decode(bomb)).toEqual({ headers: [], oversize: true });
    expect(toString).not.toHaveBeenCalled();
  });

  it('counts literals it drops by length, building none of them once over the limit', () => {
    const decoder = new HpackDecoder({ maxHeaderListBytes: 1000 });
    const big = bytes([0x00], raw('n'), raw('v'.repeat(2000)));
    const huff = bytes([0x00], huffman('n'), huffman('0'.repeat(250)));
    const block = Buffer.concat([big, ...Array.from({ length: 50 }, () => Buffer.concat([big, huff]))]);
    const toString = vi.spyOn(Buffer.prototype, 'toString');
    expect(decoder.decode(block)).toEqual({ headers: [], oversize: true });
    expect(toString.mock.calls.length).toBeLessThanOrEqual(1); // at most the first literal's name
  });

  it('still inserts indexed literals past the limit, so the next block decodes in step', () => {
    const decoder = new HpackDecoder({ maxHeaderListBytes: 300 });
    const a = indexed('a', 'x'.repeat(200));
    const b = indexed('b', 'y'.repeat(200));
    expect(decoder.decode(Buffer.concat([a, b]))).toEqual({ headers: [], oversize: true });
    expect(decoder.decode(bytes([0xbe]))).toEqual({ headers: [['b', 'y'.repeat(200)]], oversize: false });
    expect(decoder.decode(bytes([0xbf]))).toEqual({ headers: [['a', 'x'.repeat(200)]], oversize: false });
  });

  it('counts a header list exactly as RFC 7540 does (name + value + 32)', () => {
    const block = bytes([0x82, 0x84]); // :method GET (7+3+32 = 42), :path / (5+1+32 = 38)
    expect(new HpackDecoder({ maxHeaderListBytes: 80 }).decode(block).oversize).toBe(false);
    expect(new HpackDecoder({ maxHeaderListBytes: 79 }).decode(block).oversize).toBe(true);
  });
});

describe('HpackDecoder on random input', () => {
  const anyError = (err: unknown) => {
    expect(err).toBeInstanceOf(H2ConnectionError);
    expect((err as H2ConnectionError).code).toBe(H2_ERROR.COMPRESSION_ERROR);
  };

  it('never throws anything but COMPRESSION_ERROR on random bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 4 }), (blocks) => {
        const decoder = new HpackDecoder({ maxTableSize: 4096, maxHeaderListBytes: 2048 });
        for (const block of blocks) {
          try {
            const { headers, oversize } = decoder.decode(block);
            if (oversize) expect(headers).toEqual([]);
            expect(decoder.dynamicTableSize).toBeLessThanOrEqual(4096);
          } catch (err) {
            anyError(err);
            return;
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('never throws anything but COMPRESSION_ERROR on mutated valid blocks', () => {
    const valid = Buffer.concat([bytes([0x82, 0x86, 0x84]), indexed('custom-key', 'custom-value'), bytes([0xbe, 0x41, 0x8c]), huffmanEncode(Buffer.from('www.example.com'))]);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(valid.length), (edits, cut) => {
        const block = Buffer.from(valid);
        for (const [at, value] of edits) block[at] = value;
        try {
          new HpackDecoder().decode(block.subarray(0, cut));
        } catch (err) {
          anyError(err);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
