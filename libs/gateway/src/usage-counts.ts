import { bytesAt, isJsonSpace } from './json-top-members';

/** Token counts read from one answer's `usage` object. */
export interface TokenCounts {
  promptTokens: number;
  completionTokens: number;
}

/** A usage object larger than this is not one (OpenAI's, with its details, is a few hundred bytes). */
export const MAX_USAGE_BYTES = 4096;

/**
 * The counts of the `usage` object JSON text in buf[start, end) (bounded by
 * {@link MAX_USAGE_BYTES}, whitespace around it allowed), or undefined when it is not an object.
 * A count that is missing, negative or not a whole number reads as 0: embeddings have no
 * completion_tokens, and a server's odd value must not poison the sums. Read in the answer's own
 * bytes: no string is made for the common flat object.
 */
export function countsOf(buf: Uint8Array, start = 0, end = buf.length): TokenCounts | undefined {
  while (start < end && isJsonSpace(buf[start])) start++;
  while (end > start && isJsonSpace(buf[end - 1])) end--;
  if (start >= end || end - start > MAX_USAGE_BYTES || buf[start] !== 0x7b) return undefined;
  const flat = flatCountsOf(buf, start, end);
  if (flat) return flat;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const u = parsed as Record<string, unknown>;
  return { promptTokens: whole(u.prompt_tokens), completionTokens: whole(u.completion_tokens) };
}

function whole(v: unknown): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0;
}

const PROMPT = Buffer.from('prompt_tokens');
const COMPLETION = Buffer.from('completion_tokens');
const NULL = Buffer.from('null');
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NOT_A_COUNT = 0;
const PROMPT_COUNT = 1;
const COMPLETION_COUNT = 2;

/**
 * The counts of a flat usage object in b[start, end) (members whose values are whole numbers or
 * literals, keys without escapes: vLLM's, the mock's), read in place; undefined for anything
 * else, which JSON.parse then reads. JSON.parse and its object cost more than the rest of
 * counting a small answer's usage did (c=64 profiles), and so did the string it needed. Same
 * result as JSON.parse + whole() wherever it answers: a later duplicate key wins, and a number
 * it cannot read exactly (fraction, exponent, sign, 16 digits or more) goes to JSON.parse.
 * `b[start]` is the opening brace and `b[end - 1]` must be the closing one.
 */
function flatCountsOf(b: Uint8Array, start: number, end: number): TokenCounts | undefined {
  const out: TokenCounts = { promptTokens: 0, completionTokens: 0 };
  return readFlatUsage(b, start, end, out) === end ? out : undefined;
}

/**
 * Reads the flat usage object that opens at b[start] (see flatCountsOf) and closes before
 * `limit`: the offset just after its closing brace, with its counts in `out`, or -1 for an
 * object flatCountsOf would not read (`out` is then left as it was). It finds the object's end
 * as it reads, so a caller that needs both (a whole answer's usage, usage-json.ts) walks the
 * object once: a walk to find the end and a second to read it were a sixth of what usage
 * accounting cost per small answer (callgrind, st-server at c=8).
 */
export function readFlatUsage(b: Uint8Array, start: number, limit: number, out: TokenCounts): number {
  let prompt = 0;
  let completion = 0;
  const end = limit;
  let i = skipWs(b, start + 1, end);
  if (i < end && b[i] === 0x7d) {
    out.promptTokens = 0;
    out.completionTokens = 0;
    return i + 1;
  }
  for (;;) {
    if (i >= end || b[i] !== 0x22) return -1;
    const keyStart = i + 1;
    let keyEnd = keyStart;
    for (;; keyEnd++) {
      if (keyEnd >= end) return -1;
      const k = b[keyEnd];
      if (k === 0x22) break;
      if (k === 0x5c) return -1;
    }
    i = skipWs(b, keyEnd + 1, end);
    if (i >= end || b[i] !== 0x3a) return -1;
    i = skipWs(b, i + 1, end);
    if (i >= end) return -1;
    const which = countOfKey(b, keyStart, keyEnd);
    const c = b[i];
    if (c >= 0x30 && c <= 0x39) {
      const digits = i;
      let v = 0;
      for (; i < end; i++) {
        const d = b[i];
        if (d < 0x30 || d > 0x39) break;
        v = v * 10 + (d - 0x30);
      }
      const next = i < end ? b[i] : -1;
      if (i - digits > 15 || next === 0x2e || next === 0x65 || next === 0x45 || (c === 0x30 && i - digits > 1)) return -1;
      if (which === PROMPT_COUNT) prompt = v;
      else if (which === COMPLETION_COUNT) completion = v;
    } else {
      const word = c === 0x6e ? NULL : c === 0x74 ? TRUE : c === 0x66 ? FALSE : undefined;
      if (!word || !bytesAt(b, i, end, word)) return -1;
      // A literal where a count was: JSON.parse + whole() reads it as 0.
      if (which === PROMPT_COUNT) prompt = 0;
      else if (which === COMPLETION_COUNT) completion = 0;
      i += word.length;
    }
    i = skipWs(b, i, end);
    if (i >= end) return -1;
    const sep = b[i];
    if (sep === 0x7d) {
      out.promptTokens = prompt;
      out.completionTokens = completion;
      return i + 1;
    }
    if (sep !== 0x2c) return -1;
    i = skipWs(b, i + 1, end);
  }
}

/** Which count the key b[from, to) (no escapes) names. */
function countOfKey(b: Uint8Array, from: number, to: number): number {
  const len = to - from;
  if (len === PROMPT.length) return bytesAt(b, from, to, PROMPT) ? PROMPT_COUNT : NOT_A_COUNT;
  if (len === COMPLETION.length) return bytesAt(b, from, to, COMPLETION) ? COMPLETION_COUNT : NOT_A_COUNT;
  return NOT_A_COUNT;
}

function skipWs(b: Uint8Array, i: number, end: number): number {
  while (i < end && isJsonSpace(b[i])) i++;
  return i;
}
