import { integerLength, writeInteger } from './hpack-integer';
import { STATIC_FIELD_INDEX, STATIC_NAME_INDEX } from './hpack-static-table';

/*
 * Stateless HPACK encoding (RFC 7541) for what the broker sends: response headers and trailers.
 * A field that is in the static table whole is one byte; a field whose name is there is a literal
 * without indexing that names it; anything else is a literal with its name spelled out. No Huffman
 * and no dynamic table: we never insert, so the peer's SETTINGS_HEADER_TABLE_SIZE never matters and
 * we keep no per-connection encoder state. Strings are latin1 (one octet per char), as in node:http2.
 */

function stringLength(s: string): number {
  return integerLength(s.length, 7) + s.length;
}

function writeString(out: Buffer, pos: number, s: string): number {
  pos = writeInteger(out, pos, s.length, 7, 0x00); // H = 0: raw octets
  return pos + out.write(s, pos, 'latin1');
}

/** Encodes a header list (names already lowercase) into one header block. */
export function encodeHeaderBlock(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  // Two passes, sizes first, so the block is one allocation with no copying.
  const fieldIndex = new Array<number>(headers.length);
  const nameIndex = new Array<number>(headers.length);
  let total = 0;
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i];
    const whole = STATIC_FIELD_INDEX.get(`${name}\0${value}`) ?? 0;
    fieldIndex[i] = whole;
    if (whole !== 0) {
      total += integerLength(whole, 7);
      continue;
    }
    const named = STATIC_NAME_INDEX.get(name) ?? 0;
    nameIndex[i] = named;
    total += (named !== 0 ? integerLength(named, 4) : 1 + stringLength(name)) + stringLength(value);
  }
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i];
    if (fieldIndex[i] !== 0) {
      pos = writeInteger(out, pos, fieldIndex[i], 7, 0x80); // indexed field (6.1)
      continue;
    }
    if (nameIndex[i] !== 0) {
      pos = writeInteger(out, pos, nameIndex[i], 4, 0x00); // literal without indexing, indexed name (6.2.2)
    } else {
      out[pos++] = 0x00; // literal without indexing, new name (6.2.2)
      pos = writeString(out, pos, name);
    }
    pos = writeString(out, pos, value);
  }
  return out;
}
