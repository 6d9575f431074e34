/**
 * The decoder's HPACK dynamic table (RFC 7541 2.3.2, 4): newest entry first, evicting the oldest
 * while the sum of entry sizes exceeds the maximum. A ring buffer, so adding is O(1) and an
 * eviction moves nothing. Its size can never exceed `maxSize`, which the decoder caps (see
 * HpackDecoder), so a peer cannot make it hold more than that many octets.
 *
 * One array holds name and value side by side, and entry sizes are recomputed from the string
 * lengths rather than stored: the broker keeps a table per idle agent connection, 10,000 of them.
 */
export const ENTRY_OVERHEAD = 32; // RFC 7541 4.1: name octets + value octets + 32

const FIRST_CAPACITY = 8; // entries; a gRPC client's first request inserts about five

export class HpackDynamicTable {
  /** fields[2 * slot] is a name, fields[2 * slot + 1] its value. */
  private fields: string[] = [];
  /** Slot the next entry goes into; the newest entry is at (next - 1) & mask. */
  private next = 0;
  private mask = -1; // capacity - 1; capacity 0 until the first add
  private count = 0;
  private bytes = 0;

  constructor(private max: number) {}

  /** Entries in the table. */
  get length(): number {
    return this.count;
  }

  /** Sum of entry sizes, in RFC 7541 octets. */
  get size(): number {
    return this.bytes;
  }

  /** The current maximum size (changed by dynamic table size updates). */
  get maxSize(): number {
    return this.max;
  }

  /** Name of entry `i`, 0 being the newest; the caller checks 0 <= i < length. */
  nameAt(i: number): string {
    return this.fields[((this.next - 1 - i) & this.mask) << 1];
  }

  /** Value of entry `i`, 0 being the newest; the caller checks 0 <= i < length. */
  valueAt(i: number): string {
    return this.fields[(((this.next - 1 - i) & this.mask) << 1) | 1];
  }

  /**
   * Adds an entry of RFC size `size` (= name.length + value.length + 32 for latin1 strings). An
   * entry larger than the maximum empties the table and is not added (RFC 7541 4.4).
   */
  add(name: string, value: string, size: number): void {
    if (size > this.max) {
      this.clear();
      return;
    }
    this.evictTo(this.max - size);
    if (this.count === this.mask + 1) this.grow();
    const slot = this.next & this.mask;
    this.fields[slot << 1] = name;
    this.fields[(slot << 1) | 1] = value;
    this.next = (this.next + 1) & this.mask;
    this.count++;
    this.bytes += size;
  }

  /** A dynamic table size update (RFC 7541 6.3); the decoder has checked it against its limit. */
  setMaxSize(max: number): void {
    this.max = max;
    this.evictTo(max);
  }

  private evictTo(limit: number): void {
    while (this.bytes > limit) {
      const at = ((this.next - this.count) & this.mask) << 1;
      this.bytes -= this.fields[at].length + this.fields[at + 1].length + ENTRY_OVERHEAD;
      // Drop the references so evicted strings can be collected on a long-lived connection.
      this.fields[at] = this.fields[at + 1] = '';
      this.count--;
    }
  }

  private clear(): void {
    this.fields = [];
    this.next = 0;
    this.mask = -1;
    this.count = 0;
    this.bytes = 0;
  }

  private grow(): void {
    const capacity = Math.max(FIRST_CAPACITY, (this.mask + 1) * 2);
    const fields: string[] = new Array(capacity * 2);
    // Copy oldest first, so the entries sit in slots 0..count-1 and `next` is count.
    for (let i = 0; i < this.count; i++) {
      const from = ((this.next - this.count + i) & this.mask) << 1;
      fields[i << 1] = this.fields[from];
      fields[(i << 1) | 1] = this.fields[from + 1];
    }
    this.fields = fields;
    this.next = this.count;
    this.mask = capacity - 1;
  }
}
