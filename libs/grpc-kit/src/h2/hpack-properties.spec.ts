import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HpackDecoder } from './hpack-decoder';
import { encodeHeaderBlock } from './hpack-encoder';
import { huffmanEncode } from './hpack-huffman';
import { encodeInteger } from './hpack-integer';
import { STATIC_TABLE } from './hpack-static-table';

// Round trips: our encoder into our decoder, and a spec-only encoder that does use the dynamic
// table (incremental indexing, Huffman, evictions, size updates), as a real client's does, into one
// decoder across many blocks, so the decoder's table must stay in step with the encoder's model.

const latin1 = fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 60 });
const name = fc.oneof(latin1, fc.constantFrom(...STATIC_TABLE.slice(1).map(([n]) => n), 'grpc-status', 'te', 'x-a'));
const value = fc.oneof(latin1, fc.constantFrom('', 'GET', 'POST', '200', 'trailers', 'application/grpc'));
const headerList = fc.array(fc.tuple(name, value), { maxLength: 20 });

describe('integers at prefix boundaries', () => {
  const boundaries = (prefix: number) => {
    const max = 2 ** prefix - 1;
    return [0, max - 1, max, max + 1, max + 127, max + 128, max + 128 * 128 - 1, max + 128 * 128, 2 ** 21, 2 ** 28 + 5];
  };

  it('as string lengths (7-bit prefix) round-trip through the decoder', () => {
    for (const length of boundaries(7).filter((n) => n < 300_000)) {
      const v = 'v'.repeat(length);
      const block = Buffer.concat([Buffer.from([0x04]), encodeInteger(length, 7), Buffer.from(v)]); // :path, literal value
      expect(new HpackDecoder({ maxHeaderListBytes: Infinity }).decode(block).headers).toEqual([[':path', v]]);
      expect(new HpackDecoder({ maxHeaderListBytes: Infinity }).decode(encodeHeaderBlock([[':path', v]])).headers).toEqual([[':path', v]]);
    }
  });

  it('as indexes with 4-, 6- and 7-bit prefixes, into a dynamic table of thousands of entries', () => {
    const decoder = new HpackDecoder({ maxTableSize: 1 << 20 });
    const entries = 20_000; // 20,000 entries ['a', ''] of 33 octets each fit in 1 MiB
    const add = Buffer.from([0x40, 0x01, 0x61, 0x00]); // incremental indexing, name 'a', value ''
    decoder.decode(encodeInteger(1 << 20, 5, 0x20)); // the peer takes up the 1 MiB we allow
    for (let i = 0; i < entries; i += 1000) decoder.decode(Buffer.concat(Array.from({ length: 1000 }, () => add)));
    expect(decoder.dynamicTableLength).toBe(entries);
    const indexes = [...new Set([...boundaries(4), ...boundaries(6), ...boundaries(7)])].filter((i) => i > 0 && i <= 61 + entries);
    for (const index of indexes) {
      const expected = index <= 61 ? STATIC_TABLE[index] : ['a', ''];
      expect(decoder.decode(encodeInteger(index, 7, 0x80)).headers).toEqual([expected]); // indexed (6.1)
      const literal = (prefix: number, first: number, v: string) =>
        Buffer.concat([encodeInteger(index, prefix, first), encodeInteger(v.length, 7), Buffer.from(v)]);
      expect(decoder.decode(literal(4, 0x00, 'z')).headers).toEqual([[expected[0], 'z']]); // without indexing
      expect(decoder.decode(literal(4, 0x10, 'z')).headers).toEqual([[expected[0], 'z']]); // never indexed
      // Incremental indexing adds an entry; ['a', ''] again keeps every dynamic index meaning the same.
      if (index > 61) expect(decoder.decode(literal(6, 0x40, '')).headers).toEqual([['a', '']]);
    }
  });

  it('as table size updates (5-bit prefix)', () => {
    for (const size of boundaries(5).filter((n) => n <= 4096)) {
      const decoder = new HpackDecoder();
      decoder.decode(encodeInteger(size, 5, 0x20));
      expect(decoder.dynamicTableMaxSize).toBe(size);
    }
  });
});

describe('HpackDecoder inputs', () => {
  it('decodes Huffman strings longer than its shared scratch buffer, and a plain Uint8Array', () => {
    const long = Array.from({ length: 40_000 }, (_, i) => String.fromCharCode(0x20 + (i % 95))).join('');
    const code = huffmanEncode(Buffer.from(long, 'latin1'));
    const block = Buffer.concat([Buffer.from([0x04]), encodeInteger(code.length, 7, 0x80), code, Buffer.from([0x84])]);
    const decoder = new HpackDecoder({ maxHeaderListBytes: Infinity });
    expect(decoder.decode(new Uint8Array(block)).headers).toEqual([[':path', long], [':path', '/']]);
  });
});

describe('encodeHeaderBlock -> HpackDecoder', () => {
  it('round-trips random header lists', () => {
    fc.assert(
      fc.property(headerList, (headers) => {
        const decoder = new HpackDecoder({ maxHeaderListBytes: Infinity });
        expect(decoder.decode(encodeHeaderBlock(headers)).headers).toEqual(headers);
        expect(decoder.dynamicTableLength).toBe(0);
      }),
      { numRuns: 500 },
    );
  });
});

/** A spec-only HPACK encoder with a dynamic table, choosing each field's representation by `choice`. */
class IndexingEncoder {
  entries: Array<[string, string]> = [];
  private size = 0;
  constructor(private max: number) {}

  encode(headers: Array<[string, string]>, choices: number[], resize: number | undefined): Buffer {
    const parts: Buffer[] = [];
    if (resize !== undefined) {
      parts.push(encodeInteger(resize, 5, 0x20));
      this.max = resize;
      this.evict(resize);
    }
    headers.forEach(([n, v], i) => {
      const choice = choices[i % choices.length];
      const exact = this.indexOf((e) => e[0] === n && e[1] === v);
      if (exact && choice % 2 === 0) return parts.push(encodeInteger(exact, 7, 0x80));
      const named = this.indexOf((e) => e[0] === n);
      const str = (s: string) => {
        const raw = Buffer.from(s, 'latin1');
        if (choice & 4) {
          const code = huffmanEncode(raw);
          return Buffer.concat([encodeInteger(code.length, 7, 0x80), code]);
        }
        return Buffer.concat([encodeInteger(raw.length, 7), raw]);
      };
      const [prefix, first] = choice % 3 === 0 ? [6, 0x40] : choice % 3 === 1 ? [4, 0x00] : [4, 0x10];
      parts.push(named ? encodeInteger(named, prefix, first) : Buffer.concat([Buffer.from([first]), str(n)]), str(v));
      if (first === 0x40) this.add(n, v);
    });
    return Buffer.concat(parts);
  }

  private indexOf(match: (e: readonly [string, string]) => boolean): number {
    const s = STATIC_TABLE.findIndex((e, i) => i > 0 && match(e));
    if (s > 0) return s;
    const d = this.entries.findIndex(match);
    return d >= 0 ? 62 + d : 0;
  }

  private add(n: string, v: string): void {
    const size = n.length + v.length + 32;
    if (size > this.max) {
      this.entries = [];
      this.size = 0;
      return;
    }
    this.evict(this.max - size);
    this.entries.unshift([n, v]);
    this.size += size;
  }

  private evict(limit: number): void {
    while (this.size > limit) {
      const [n, v] = this.entries.pop()!;
      this.size -= n.length + v.length + 32;
    }
  }
}

describe('an indexing, Huffman-coding encoder -> HpackDecoder across blocks', () => {
  it('keeps the decoder table equal to the encoder table, with evictions and size updates', () => {
    const block = fc.record({
      headers: headerList,
      choices: fc.array(fc.nat(7), { minLength: 1, maxLength: 5 }),
      resize: fc.option(fc.nat(600), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(block, { minLength: 1, maxLength: 10 }), (blocks) => {
        const encoder = new IndexingEncoder(600);
        const decoder = new HpackDecoder({ maxTableSize: 600, maxHeaderListBytes: Infinity });
        decoder.settingsAcknowledged();
        decoder.decode(encodeInteger(600, 5, 0x20)); // the update the ACK requires
        for (const { headers, choices, resize } of blocks) {
          expect(decoder.decode(encoder.encode(headers, choices, resize)).headers).toEqual(headers);
          expect(decoder.dynamicTableEntries()).toEqual(encoder.entries);
        }
      }),
      { numRuns: 300 },
    );
  });
});
