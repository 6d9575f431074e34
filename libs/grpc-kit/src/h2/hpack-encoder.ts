import { integerLength, writeInteger } from './hpack-integer';
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

/** Below this many chars a byte loop beats Buffer's native write call. */
const SHORT_STRING = 24;

type Latin1Buffer = Buffer & { latin1Write(s: string, offset: number): number };

function stringLength(s: string): number {
  return integerLength(s.length, 7) + s.length;
}

function writeString(out: Buffer, pos: number, s: string): number {
  const length = s.length;
  pos = writeInteger(out, pos, length, 7, 0x00); // H = 0: raw octets
  if (length < SHORT_STRING) {
    for (let i = 0; i < length; i++) out[pos + i] = s.charCodeAt(i);
    return pos + length;
  }
  return pos + (out as Latin1Buffer).latin1Write(s, pos);
}

/*
 * Per field, what the first pass found: > 0 a static index of the whole field, < 0 minus the
 * static index of its name, 0 a new name. Shared and reused: encoding is synchronous.
 */
let plan = new Int32Array(16);

/** Encodes a header list (names already lowercase) into one header block. */
export function encodeHeaderBlock(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  // Two passes, sizes first, so the block is exactly one allocation (a view would be a second
  // Buffer object, which costs more than the Map lookups it saves).
  if (plan.length < headers.length) plan = new Int32Array(headers.length * 2);
  let total = 0;
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i];
    const known = STATIC_NAMES.get(name);
    const whole = known?.values.get(value);
    if (whole !== undefined) {
      plan[i] = whole;
      total += integerLength(whole, 7);
    } else if (known) {
      plan[i] = -known.index;
      total += integerLength(known.index, 4) + stringLength(value);
    } else {
      plan[i] = 0;
      total += 1 + stringLength(name) + stringLength(value);
    }
  }
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (let i = 0; i < headers.length; i++) {
    const step = plan[i];
    if (step > 0) {
      pos = writeInteger(out, pos, step, 7, 0x80); // indexed field (6.1)
      continue;
    }
    const [name, value] = headers[i];
    if (step < 0) {
      pos = writeInteger(out, pos, -step, 4, 0x00); // literal without indexing, indexed name (6.2.2)
    } else {
      out[pos++] = 0x00; // literal without indexing, new name (6.2.2)
      pos = writeString(out, pos, name);
    }
    pos = writeString(out, pos, value);
  }
  return out;
}
