import { writeInteger } from './hpack-integer';
import { STATIC_TABLE } from './hpack-static-table';

/*
 * Stateless HPACK encoding (RFC 7541) for what the broker sends: response headers and trailers.
 * A field that is in the static table whole is one byte; a field whose name is there is a literal
 * without indexing that names it; anything else is a literal with its name spelled out. No Huffman
 * and no dynamic table: we never insert, so the peer's SETTINGS_HEADER_TABLE_SIZE never matters and
 * we keep no per-connection encoder state. Strings are latin1 (one octet per char), as in node:http2:
 * a char above U+00FF would be cut to its low byte, so callers percent-encode (grpc-message does).
 */

interface StaticName {
  /** Lowest static index with this name. */
  index: number;
  /** value -> static index of the whole field, for the names that have valued entries. */
  values: Map<string, number>;
}

/** name -> its static entries; one Map lookup per field, no string building. */
const STATIC_NAMES = new Map<string, StaticName>();
for (let i = STATIC_TABLE.length - 1; i >= 1; i--) {
  const [name, value] = STATIC_TABLE[i];
  let entry = STATIC_NAMES.get(name);
  if (!entry) STATIC_NAMES.set(name, (entry = { index: i, values: new Map() }));
  entry.index = i; // going down, so the lowest index wins
  entry.values.set(value, i);
}

/** Most bytes a string literal's length prefix takes (lengths below 2^28). */
const MAX_LENGTH_PREFIX = 5;
/** Below this many chars a byte loop beats Buffer's native write call. */
const SHORT_STRING = 24;

type Latin1Buffer = Buffer & { latin1Write(s: string, offset: number): number };

function writeString(out: Buffer, pos: number, s: string): number {
  const length = s.length;
  pos = writeInteger(out, pos, length, 7, 0x00); // H = 0: raw octets
  if (length < SHORT_STRING) {
    for (let i = 0; i < length; i++) out[pos + i] = s.charCodeAt(i);
    return pos + length;
  }
  return pos + (out as Latin1Buffer).latin1Write(s, pos);
}

/** Encodes a header list (names already lowercase) into one header block. */
export function encodeHeaderBlock(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  // One pass into a buffer sized for the worst case (index or literal name, two length
  // prefixes); the block is a view of its start. It is written to a socket at once, so the
  // slack costs nothing lasting.
  let bound = 0;
  for (let i = 0; i < headers.length; i++) bound += 1 + 2 * MAX_LENGTH_PREFIX + headers[i][0].length + headers[i][1].length;
  const out = Buffer.allocUnsafe(bound);
  let pos = 0;
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i];
    const known = STATIC_NAMES.get(name);
    if (known) {
      const whole = known.values.get(value);
      if (whole !== undefined) {
        pos = writeInteger(out, pos, whole, 7, 0x80); // indexed field (6.1)
        continue;
      }
      pos = writeInteger(out, pos, known.index, 4, 0x00); // literal without indexing, indexed name (6.2.2)
    } else {
      out[pos++] = 0x00; // literal without indexing, new name (6.2.2)
      pos = writeString(out, pos, name);
    }
    pos = writeString(out, pos, value);
  }
  return out.subarray(0, pos);
}
