/**
 * The top-level members of one JSON object held whole in a buffer (a request body already checked
 * by the JSON scanner, or one SSE `data:` line of an answer): where each wanted key's value is, so
 * that usage accounting can read `model`, `stream` or `usage` and splice bytes in or out without
 * parsing the whole object or re-serialising it (the bytes the client or the model server sees
 * stay the ones that were sent, apart from the splice).
 *
 * One pass, O(length), strings skipped with a native search for their closing quote; nothing is
 * built but the members asked for. Malformed input (an answer is not checked beforehand) yields
 * undefined, never an exception.
 */

/** Where one top-level member is. Offsets into the buffer. */
export interface TopMember {
  /** The opening quote of its key. */
  keyStart: number;
  /** The first byte of its value (after the colon and any whitespace). */
  valueStart: number;
  /** Just past its value's last byte. */
  valueEnd: number;
  /** The comma before its key, or -1 when it is the first member. */
  commaBefore: number;
  /** The comma after its value, or -1 when it is the last member. */
  commaAfter: number;
  /** How many times the key occurs (JSON parsers disagree on which one counts when it is > 1). */
  count: number;
}

/** The object's members asked for, and where its closing brace is. */
export interface TopMembers {
  members: Map<string, TopMember>;
  /** Offset of the top-level object's closing '}'. */
  close: number;
  /** Whether the object has any member at all. */
  empty: boolean;
}

/** Keys longer than this are never among the wanted ones (they are short names). */
const MAX_KEY_BYTES = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Offset just past the string whose opening quote is at `at`, or -1 when it does not close. */
export function skipString(buf: Uint8Array, at: number): number {
  const b = buf as Buffer;
  let from = at + 1;
  for (;;) {
    const q = b.indexOf(QUOTE, from);
    if (q === -1) return -1;
    // A quote after an odd run of backslashes is escaped.
    let run = 0;
    for (let k = q - 1; k > at && buf[k] === BACKSLASH; k--) run++;
    if (run % 2 === 0) return q + 1;
    from = q + 1;
  }
}

/** Offset just past the value starting at `at` (any JSON value), or -1 when it is cut or broken. */
function skipValue(buf: Uint8Array, at: number, end: number): number {
  const c = buf[at];
  if (c === QUOTE) return skipString(buf, at);
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (let i = at; i < end; i++) {
      const d = buf[i];
      if (d === QUOTE) {
        const next = skipString(buf, i);
        if (next === -1 || next > end) return -1;
        i = next - 1;
      } else if (d === 0x7b || d === 0x5b) depth++;
      else if (d === 0x7d || d === 0x5d) {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    return -1;
  }
  // A number or a literal: up to the next delimiter.
  let i = at;
  while (i < end && buf[i] !== 0x2c && buf[i] !== 0x7d && buf[i] !== 0x5d && !isSpace(buf[i])) i++;
  return i > at ? i : -1;
}

function skipSpace(buf: Uint8Array, i: number, end: number): number {
  while (i < end && isSpace(buf[i])) i++;
  return i;
}

/** The decoded key of raw bytes [from, to) between its quotes, or undefined when it is too long. */
function keyOf(buf: Uint8Array, from: number, to: number): string | undefined {
  if (to - from > MAX_KEY_BYTES) return undefined;
  const raw = Buffer.from(buf.buffer, buf.byteOffset + from, to - from);
  if (!raw.includes(BACKSLASH)) return raw.toString('utf8');
  try {
    return JSON.parse(`"${raw.toString('utf8')}"`) as string;
  } catch {
    return undefined;
  }
}

/**
 * The members named in `wanted` of the object spanning buf[from, end) (leading and trailing
 * whitespace allowed), or undefined when that is not one well-delimited JSON object.
 */
export function topLevelMembers(buf: Uint8Array, wanted: ReadonlySet<string>, from = 0, end = buf.length): TopMembers | undefined {
  let i = skipSpace(buf, from, end);
  if (buf[i] !== 0x7b) return undefined;
  i = skipSpace(buf, i + 1, end);
  const members = new Map<string, TopMember>();
  let commaBefore = -1;
  let last: TopMember | undefined;
  let empty = true;
  if (buf[i] === 0x7d) return skipSpace(buf, i + 1, end) === end ? { members, close: i, empty } : undefined;
  for (;;) {
    if (buf[i] !== QUOTE) return undefined;
    const keyStart = i;
    const keyEnd = skipString(buf, i);
    if (keyEnd === -1 || keyEnd > end) return undefined;
    i = skipSpace(buf, keyEnd, end);
    if (buf[i] !== 0x3a) return undefined;
    const valueStart = skipSpace(buf, i + 1, end);
    if (valueStart >= end) return undefined;
    const valueEnd = skipValue(buf, valueStart, end);
    if (valueEnd === -1) return undefined;
    empty = false;
    const key = wanted.size > 0 ? keyOf(buf, keyStart + 1, keyEnd - 1) : undefined;
    let member: TopMember | undefined;
    if (key !== undefined && wanted.has(key)) {
      const seen = members.get(key);
      member = { keyStart, valueStart, valueEnd, commaBefore, commaAfter: -1, count: (seen?.count ?? 0) + 1 };
      members.set(key, member);
    }
    last = member;
    i = skipSpace(buf, valueEnd, end);
    if (buf[i] === 0x2c) {
      if (last) last.commaAfter = i;
      commaBefore = i;
      i = skipSpace(buf, i + 1, end);
      continue;
    }
    if (buf[i] === 0x7d) return skipSpace(buf, i + 1, end) === end ? { members, close: i, empty } : undefined;
    return undefined;
  }
}

/** The value's bytes as text (for small values: literals, a usage object). */
export function valueText(buf: Uint8Array, m: TopMember): string {
  return Buffer.from(buf.buffer, buf.byteOffset + m.valueStart, m.valueEnd - m.valueStart).toString('utf8');
}

/** The bytes to cut to remove member `m` with one of its commas, as [from, to). */
export function memberCut(m: TopMember): [number, number] {
  if (m.commaBefore >= 0) return [m.commaBefore, m.valueEnd];
  if (m.commaAfter >= 0) return [m.keyStart, m.commaAfter + 1];
  return [m.keyStart, m.valueEnd];
}
