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

/** JSON's whitespace: space, LF, CR, tab. */
export function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * Whether `buf` holds `word` at `at`, not reading past `end`: compared in JS, as a native call
 * (Buffer.compare, equals) costs more than the few bytes of a key or a literal.
 */
export function bytesAt(buf: Uint8Array, at: number, end: number, word: Uint8Array): boolean {
  if (at + word.length > end) return false;
  for (let k = 0; k < word.length; k++) if (buf[at + k] !== word[k]) return false;
  return true;
}

/** Strings up to this long are scanned byte by byte; longer ones by a native search (a call costs more than a short scan). */
const SHORT_STRING = 64;

/** Offset just past the string whose opening quote is at `at`, or -1 when it does not close. */
export function skipString(buf: Uint8Array, at: number): number {
  const short = Math.min(buf.length, at + 1 + SHORT_STRING);
  let i = at + 1;
  for (; i < short; i++) {
    const c = buf[i];
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) i++;
  }
  if (i >= buf.length) return -1;
  // A long string: from here (no escape pending), the next quote not after an odd run of backslashes.
  const b = buf as Buffer;
  const floor = i;
  let from = i;
  for (;;) {
    const q = b.indexOf(QUOTE, from);
    if (q === -1) return -1;
    let run = 0;
    for (let k = q - 1; k >= floor && buf[k] === BACKSLASH; k--) run++;
    if (run % 2 === 0) return q + 1;
    from = q + 1;
  }
}

/** Offset just past the value starting at `at` (any JSON value), or -1 when it is cut or broken. */
export function skipValue(buf: Uint8Array, at: number, end: number): number {
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
  while (i < end && buf[i] !== 0x2c && buf[i] !== 0x7d && buf[i] !== 0x5d && !isJsonSpace(buf[i])) i++;
  return i > at ? i : -1;
}

function skipSpace(buf: Uint8Array, i: number, end: number): number {
  while (i < end && isJsonSpace(buf[i])) i++;
  return i;
}

/** The wanted keys with their bytes, made once per set. */
const keyBytesOf = new WeakMap<ReadonlySet<string>, { key: string; bytes: Buffer }[]>();

function wantedBytes(wanted: ReadonlySet<string>): { key: string; bytes: Buffer }[] {
  let entries = keyBytesOf.get(wanted);
  if (!entries) {
    entries = [...wanted].map((key) => ({ key, bytes: Buffer.from(key) }));
    keyBytesOf.set(wanted, entries);
  }
  return entries;
}

/**
 * Which wanted key the raw bytes [from, to) between a key's quotes spell, compared in place;
 * only a key holding an escape is decoded. Undefined when none.
 */
function keyOf(buf: Uint8Array, from: number, to: number, wanted: { key: string; bytes: Buffer }[]): string | undefined {
  const n = to - from;
  let escaped = false;
  for (const { key, bytes } of wanted) {
    if (bytes.length !== n) continue;
    let i = 0;
    while (i < n && buf[from + i] === bytes[i]) i++;
    if (i === n) return key;
  }
  if (n > MAX_KEY_BYTES) return undefined;
  for (let i = from; i < to; i++) if (buf[i] === BACKSLASH) escaped = true;
  if (!escaped) return undefined;
  try {
    const decoded = JSON.parse(`"${Buffer.from(buf.buffer, buf.byteOffset + from, n).toString('utf8')}"`) as string;
    return wanted.some((w) => w.key === decoded) ? decoded : undefined;
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
  const keys = wantedBytes(wanted);
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
    const key = keys.length > 0 ? keyOf(buf, keyStart + 1, keyEnd - 1, keys) : undefined;
    let member: TopMember | undefined;
    if (key !== undefined) {
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
