import { H2_ERROR, H2ConnectionError } from './h2-errors';
import { ENTRY_OVERHEAD, HpackDynamicTable } from './hpack-dynamic-table';
import { huffmanDecode, huffmanDecodedMaxLength } from './hpack-huffman';
import { STATIC_TABLE, STATIC_TABLE_LENGTH } from './hpack-static-table';

/*
 * HPACK header block decoding (RFC 7541). Names and values are latin1 strings, one char per octet,
 * as node:http2 presents them, so an entry's RFC size is name.length + value.length + 32.
 *
 * The broker's port faces anyone, so every length and index is checked against what is left of
 * the block, integers stop at 2^32 - 1, and the header list's size is counted before any string
 * is built: a 1-byte indexed field that names a 4 KiB dynamic entry costs the attacker 1 byte and
 * us 4 KiB of list, and maxHeaderListBytes stops that after a few references.
 */

export interface HpackDecoderOptions {
  /**
   * Our SETTINGS_HEADER_TABLE_SIZE: the most a table size update may ask for. Default 4096, the
   * protocol's initial value. A smaller one binds the peer only from settingsAcknowledged() on:
   * until the peer has read our SETTINGS its encoder may use 4096 octets.
   */
  maxTableSize?: number;
  /** Most header list bytes (RFC 7540 size: name + value + 32 per field) we hand on. Default 16384. */
  maxHeaderListBytes?: number;
}

export interface DecodedHeaders {
  headers: Array<[name: string, value: string]>;
  /**
   * The list exceeded maxHeaderListBytes: the block was still fully processed so the table stays in
   * sync, but `headers` is empty.
   */
  oversize: boolean;
}

/** The table size both sides start with, before any SETTINGS (RFC 9113 6.5.2). */
const PROTOCOL_INITIAL_TABLE_SIZE = 4096;
const DEFAULT_MAX_TABLE_SIZE = PROTOCOL_INITIAL_TABLE_SIZE;
const DEFAULT_MAX_HEADER_LIST_BYTES = 16384;
const MAX_INTEGER = 0xffffffff;

/*
 * One scratch buffer for Huffman output, shared by all decoders: decode() is synchronous, and
 * 10,000 idle connections should not each keep one. Strings longer than this use a temporary one.
 * Allocated on first use: every process that imports grpc-kit loads this file.
 */
const SCRATCH_BYTES = 16 * 1024;
let scratch: Buffer | undefined;
const EMPTY = Buffer.alloc(0);

/** Buffer's native latin1 slice, which @types/node does not declare (present since Node 0.x). */
type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

export class HpackDecoder {
  private readonly table: HpackDynamicTable;
  private readonly maxTableSize: number;
  private readonly maxHeaderListBytes: number;
  /** The most a size update may ask for now: the larger of ours and 4096 until the peer ACKs ours. */
  private updateLimit: number;
  /** The peer ACKed a maxTableSize below its table's size: its next block must start with an update. */
  private updateRequired = false;

  // Cursor over the block being decoded (fields, not locals, so helpers can advance it).
  private buf: Buffer = EMPTY;
  private pos = 0;
  private end = 0;
  // The last string scanned: its octets are str[strStart, strStart + strLength).
  private str: Buffer = EMPTY;
  private strStart = 0;
  private strLength = 0;

  constructor(options: HpackDecoderOptions = {}) {
    this.maxTableSize = options.maxTableSize ?? DEFAULT_MAX_TABLE_SIZE;
    this.maxHeaderListBytes = options.maxHeaderListBytes ?? DEFAULT_MAX_HEADER_LIST_BYTES;
    // The peer's encoder starts at 4096 whatever we announce, and may keep using it for blocks it
    // encodes before it reads our SETTINGS (h2-node-interop.spec.ts: requests sent at connect).
    this.table = new HpackDynamicTable(PROTOCOL_INITIAL_TABLE_SIZE);
    this.updateLimit = Math.max(this.maxTableSize, PROTOCOL_INITIAL_TABLE_SIZE);
  }

  /**
   * The peer ACKed the SETTINGS frame that carried our SETTINGS_HEADER_TABLE_SIZE (= maxTableSize).
   * From now on size updates are held to maxTableSize and, if that is below the table's current
   * size, the next block must start with one (RFC 7541 4.2), as nghttp2 requires too. Without this
   * call a peer may keep a table of up to max(maxTableSize, 4096) octets.
   */
  settingsAcknowledged(): void {
    this.updateLimit = this.maxTableSize;
    if (this.table.maxSize > this.maxTableSize) this.updateRequired = true;
  }

  /** Entries in the dynamic table (for specs and metrics). */
  get dynamicTableLength(): number {
    return this.table.length;
  }

  /** Size of the dynamic table in RFC 7541 octets (for specs and metrics). */
  get dynamicTableSize(): number {
    return this.table.size;
  }

  /** The dynamic table's current maximum size, as the last size update set it (for specs). */
  get dynamicTableMaxSize(): number {
    return this.table.maxSize;
  }

  /** The dynamic table, newest first (for specs). */
  dynamicTableEntries(): Array<[string, string]> {
    const entries: Array<[string, string]> = [];
    for (let i = 0; i < this.table.length; i++) entries.push([this.table.nameAt(i), this.table.valueAt(i)]);
    return entries;
  }

  /**
   * Decodes one complete header block (HEADERS + CONTINUATION fragments joined). Throws
   * H2ConnectionError(COMPRESSION_ERROR) on malformed input; after that the table is out of step
   * with the peer's, so the connection must end.
   */
  decode(block: Uint8Array): DecodedHeaders {
    const buf = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    this.buf = buf;
    this.pos = 0;
    this.end = buf.length;
    const headers: Array<[string, string]> = [];
    const limit = this.maxHeaderListBytes;
    let listBytes = 0;
    let oversize = false;
    let fieldSeen = false;
    if (this.updateRequired && buf.length > 0 && (buf[0] & 0xe0) !== 0x20) {
      throw compressionError(`the block does not start with the dynamic table size update our SETTINGS_HEADER_TABLE_SIZE of ${this.maxTableSize} requires (RFC 7541 4.2)`);
    }
    try {
      while (this.pos < this.end) {
        const first = buf[this.pos];
        if (first & 0x80) {
          // Indexed header field (RFC 7541 6.1).
          const index = this.readInteger(7);
          const name = this.nameAt(index);
          const value = this.valueAt(index);
          fieldSeen = true;
          listBytes += name.length + value.length + ENTRY_OVERHEAD;
          if (oversize) continue;
          if (listBytes > limit) {
            oversize = true;
            continue;
          }
          headers.push([name, value]);
          continue;
        }
        if ((first & 0xe0) === 0x20) {
          // Dynamic table size update (RFC 7541 6.3): only before the block's first field (4.2).
          if (fieldSeen) throw compressionError('a dynamic table size update follows a header field (RFC 7541 4.2)');
          const size = this.readInteger(5);
          if (size > this.updateLimit) {
            throw compressionError(`a dynamic table size update asks for ${size} octets, above the ${this.updateLimit} our SETTINGS_HEADER_TABLE_SIZE allows`);
          }
          this.table.setMaxSize(size);
          this.updateRequired = false;
          continue;
        }
        // Literal header field with incremental indexing (01), without indexing (0000) or never
        // indexed (0001) (RFC 7541 6.2). The last two differ only for intermediaries.
        fieldSeen = true;
        const indexing = (first & 0x40) !== 0;
        const nameIndex = this.readInteger(indexing ? 6 : 4);
        if (oversize && !indexing) {
          // A field we will neither return nor store: check its strings, build none of them.
          if (nameIndex !== 0) this.nameAt(nameIndex);
          else this.scanString();
          this.scanString();
          continue;
        }
        let name: string;
        if (nameIndex !== 0) {
          name = this.nameAt(nameIndex);
        } else {
          this.scanString();
          name = this.scannedString(); // before the value's scan reuses the scratch buffer
        }
        const nameLength = name.length;
        this.scanString();
        const size = nameLength + this.strLength + ENTRY_OVERHEAD;
        listBytes += size;
        if (!oversize && listBytes > limit) oversize = true;
        const keep = !oversize;
        const store = indexing && size <= this.table.maxSize;
        const value = keep || store ? this.scannedString() : '';
        if (indexing) this.table.add(name, value, size);
        if (keep) headers.push([name, value]);
      }
    } finally {
      this.buf = this.str = EMPTY; // hold no reference to the caller's chunk between calls
    }
    if (oversize) return { headers: [], oversize };
    return { headers, oversize };
  }

  private nameAt(index: number): string {
    if (index === 0) throw compressionError('index 0 is not a header field (RFC 7541 6.1)');
    if (index <= STATIC_TABLE_LENGTH) return STATIC_TABLE[index][0];
    const i = index - STATIC_TABLE_LENGTH - 1;
    if (i >= this.table.length) throw compressionError(`index ${index} is past the end of the table (${STATIC_TABLE_LENGTH + this.table.length} entries)`);
    return this.table.nameAt(i);
  }

  /** Value at an index nameAt() has already checked. */
  private valueAt(index: number): string {
    if (index <= STATIC_TABLE_LENGTH) return STATIC_TABLE[index][1];
    return this.table.valueAt(index - STATIC_TABLE_LENGTH - 1);
  }

  /** An N-bit-prefix integer (RFC 7541 5.1), at most 2^32 - 1. */
  private readInteger(prefixBits: number): number {
    const mask = (1 << prefixBits) - 1;
    let value = this.buf[this.pos++] & mask;
    if (value < mask) return value;
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= this.end) throw compressionError('the block ends inside an integer');
      // Five continuation bytes carry 35 bits, enough for 2^32 - 1; a sixth is only zero padding.
      if (shift > 28) throw compressionError('an integer has more than five continuation bytes');
      const byte = this.buf[this.pos++];
      value += (byte & 0x7f) * 2 ** shift;
      if (value > MAX_INTEGER) throw compressionError('an integer exceeds 2^32 - 1');
      if ((byte & 0x80) === 0) return value;
    }
  }

  /**
   * Reads a string literal (RFC 7541 5.2) without building a JS string: afterwards its octets are
   * str[strStart, strStart + strLength). A Huffman string is decoded into the scratch buffer, so
   * call scannedString() before the next scan.
   */
  private scanString(): void {
    if (this.pos >= this.end) throw compressionError('the block ends before a string literal');
    const huffman = (this.buf[this.pos] & 0x80) !== 0;
    const length = this.readInteger(7);
    if (length > this.end - this.pos) throw compressionError(`a string literal of ${length} octets runs past the end of the block`);
    const start = this.pos;
    this.pos += length;
    if (!huffman) {
      this.str = this.buf;
      this.strStart = start;
      this.strLength = length;
      return;
    }
    const max = huffmanDecodedMaxLength(length);
    const dst = max <= SCRATCH_BYTES ? (scratch ??= Buffer.allocUnsafe(SCRATCH_BYTES)) : Buffer.allocUnsafe(max);
    this.str = dst;
    this.strStart = 0;
    this.strLength = huffmanDecode(this.buf, start, start + length, dst);
  }

  private scannedString(): string {
    if (this.strLength === 0) return '';
    // latin1Slice skips toString()'s argument and encoding checks: a third of a decode's time in a
    // profile of tools/bench/h2-codec-bench.mjs went to those.
    return (this.str as Latin1Buffer).latin1Slice(this.strStart, this.strStart + this.strLength);
  }
}

function compressionError(what: string): H2ConnectionError {
  return new H2ConnectionError(H2_ERROR.COMPRESSION_ERROR, `HPACK: ${what}; the connection's header table is out of step and it must close`);
}
