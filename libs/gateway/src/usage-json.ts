import { isJsonSpace, skipString, skipValue } from './json-top-members';
import { MAX_USAGE_BYTES, type TokenCounts, countsOf, readFlatUsage } from './usage-counts';
import { lastUsageQuote } from './usage-key-search';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const USAGE_KEY = Buffer.from('usage');
const QUOTED_USAGE = Buffer.from('"usage"');
const USAGE_QUOTE = Buffer.from('usage"');
/** tailUsage could not tell: the answer is walked whole. */
const WALK = Symbol('walk');
/** Top-level keys longer than this cannot be "usage" (escapes included). */
const MAX_KEY_BYTES = 64;

/**
 * Finds the top-level `usage` object of a plain (non-streamed) JSON answer as its chunks pass,
 * without holding the answer: a state machine that tracks nesting and strings (each string
 * skipped with a native search for its closing quote), compares the top-level keys in place, and
 * keeps only the bytes of the `usage` value (at most MAX_USAGE_BYTES). O(chunk) per chunk, so a
 * large embeddings answer costs one pass and nothing is kept but the small usage text. A
 * malformed answer simply yields no usage.
 */
export class JsonUsageScanner {
  usage: TokenCounts | undefined;
  private depth = 0;
  /** A string continues from the previous chunk. */
  private inString = false;
  /** …and that chunk ended in the middle of an escape. */
  private escape = false;
  /** The continuing string is a top-level key: its parts so far (at most MAX_KEY_BYTES). */
  private inKey = false;
  private keyParts: Buffer[] = [];
  private keyBytes = 0;
  /** A top-level key is expected next (after '{' or ','). */
  private expectKey = false;
  /** The last top-level key read was "usage". */
  private keyIsUsage = false;
  /** Capturing the value of the top-level "usage". */
  private capturing = false;
  private captured: Buffer[] = [];
  private capturedBytes = 0;
  private failed = false;

  /** The answer's next bytes. */
  push(chunk: Uint8Array): void {
    if (this.failed || this.usage) return;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const n = buf.length;
    let captureFrom = this.capturing ? 0 : -1;
    let i = 0;
    if (this.inString) {
      // The string the previous chunk ended in: its escaped byte first, then its closing quote.
      const from = this.escape ? 1 : 0;
      this.escape = false;
      const close = from > n ? -1 : closingQuote(buf, from);
      if (close < 0) {
        if (this.inKey) this.keyPart(buf, 0, n);
        this.escape = close === -2 || (from > n);
        if (this.capturing) this.keep(buf);
        return;
      }
      if (this.inKey) {
        this.keyPart(buf, 0, close);
        this.endKey();
      }
      this.inString = false;
      i = close + 1;
    }
    for (; i < n; i++) {
      const c = buf[i];
      switch (c) {
        case QUOTE: {
          const isKey = this.depth === 1 && this.expectKey;
          const close = closingQuote(buf, i + 1);
          if (close < 0) {
            // Goes on in the next chunk.
            this.inString = true;
            this.escape = close === -2;
            this.inKey = isKey;
            if (isKey) {
              this.keyParts = [];
              this.keyBytes = 0;
              this.keyPart(buf, i + 1, n);
            }
            i = n;
            break;
          }
          if (isKey) this.keyIsUsage = isUsageKeyAt(buf, i + 1, close);
          i = close;
          break;
        }
        case 0x7b:
        case 0x5b:
          this.depth++;
          if (this.depth === 1) {
            if (c !== 0x7b) return this.fail();
            this.expectKey = true;
          }
          break;
        case 0x7d:
        case 0x5d:
          if (this.depth === 1 && this.capturing) this.endCapture(buf, captureFrom, i);
          this.depth--;
          if (this.depth < 0) return this.fail();
          break;
        case 0x3a:
          if (this.depth === 1) {
            this.expectKey = false;
            if (this.keyIsUsage) {
              this.capturing = true;
              captureFrom = i + 1;
            }
          }
          break;
        case 0x2c:
          if (this.depth === 1) {
            if (this.capturing) this.endCapture(buf, captureFrom, i);
            this.expectKey = true;
            this.keyIsUsage = false;
          }
          break;
      }
      if (this.usage) return;
    }
    if (this.capturing && captureFrom >= 0) this.keep(buf.subarray(captureFrom));
  }

  private keyPart(buf: Buffer, from: number, to: number): void {
    if (this.keyBytes + (to - from) > MAX_KEY_BYTES) {
      this.keyBytes = MAX_KEY_BYTES + 1;
      this.keyParts = [];
      return;
    }
    this.keyParts.push(Buffer.from(buf.subarray(from, to)));
    this.keyBytes += to - from;
  }

  private endKey(): void {
    this.inKey = false;
    this.keyIsUsage = this.keyBytes <= MAX_KEY_BYTES && isUsageKey(Buffer.concat(this.keyParts));
    this.keyParts = [];
  }

  private keep(part: Buffer): void {
    if (this.capturedBytes + part.length > MAX_USAGE_BYTES) {
      // Not a usage object anyone sends: stop capturing, count no tokens.
      this.capturing = false;
      this.captured = [];
      this.capturedBytes = MAX_USAGE_BYTES + 1;
      return;
    }
    this.captured.push(Buffer.from(part));
    this.capturedBytes += part.length;
  }

  private endCapture(buf: Buffer, from: number, to: number): void {
    this.keep(buf.subarray(Math.max(from, 0), to));
    if (!this.capturing) return;
    this.capturing = false;
    this.usage = countsOf(Buffer.concat(this.captured, this.capturedBytes));
    this.captured = [];
  }

  private fail(): void {
    this.failed = true;
    this.capturing = false;
    this.captured = [];
  }
}

/**
 * The usage of a plain answer held whole (the common small one, which comes in the response
 * head): read from its end when it can be (tailUsage), else walked by a {@link JsonUsageScanner}.
 */
export function wholeAnswerUsage(answer: Uint8Array): TokenCounts | undefined {
  const buf = Buffer.isBuffer(answer) ? answer : Buffer.from(answer.buffer, answer.byteOffset, answer.length);
  const tail = tailUsage(buf);
  if (tail !== WALK) return tail;
  const scanner = new JsonUsageScanner();
  scanner.push(buf);
  return scanner.usage;
}

/**
 * The usage of a whole answer read from its end, where OpenAI-style servers put it: the one
 * `"usage"` of the answer, a key (after `{` or `,`, before `:`), is top-level when the walk from
 * its value to the end closes exactly one object, at the last byte but whitespace. In JSON the
 * bytes `"usage"` with a byte before them are always the string token "usage" (a quote inside a
 * string is escaped), so, that token being the answer's only one, the walk is the whole test.
 * Only the bytes after the value are walked (a large embeddings answer is not); WALK when any of
 * that does not hold, and the state machine reads the answer. (A top-level key spelt with escapes, `"us\u0061ge"`, is not looked for
 * here: no server writes one.)
 */
function tailUsage(buf: Buffer): TokenCounts | undefined | typeof WALK {
  const hit = lastUsageKey(buf);
  // A second "usage" anywhere before it (a duplicate key, or the word in a value) is left to the
  // state machine, which keeps the first top-level one, as for an answer that comes in parts.
  if (hit < 1 || buf[hit - 1] !== QUOTE || buf.indexOf(USAGE_QUOTE) !== hit) return WALK;
  const at = hit - 1;
  let k = at - 1;
  while (k >= 0 && isJsonSpace(buf[k])) k--;
  if (k < 0 || (buf[k] !== 0x7b && buf[k] !== 0x2c)) return WALK;
  const n = buf.length;
  let i = at + QUOTED_USAGE.length;
  while (i < n && isJsonSpace(buf[i])) i++;
  if (buf[i] !== 0x3a) return WALK;
  i++;
  while (i < n && isJsonSpace(buf[i])) i++;
  const valueStart = i;
  // The common value, a flat object, is read as it is walked (readFlatUsage): its end and its
  // counts in one pass. Anything else is skipped here and read by countsOf below.
  let flat: TokenCounts | undefined = buf[valueStart] === 0x7b ? { promptTokens: 0, completionTokens: 0 } : undefined;
  let valueEnd = flat ? readFlatUsage(buf, valueStart, Math.min(n, valueStart + MAX_USAGE_BYTES), flat) : -1;
  if (valueEnd === -1) {
    flat = undefined;
    valueEnd = skipValue(buf, valueStart, n);
  }
  if (valueEnd === -1) return WALK;
  let depth = 1;
  for (i = valueEnd; i < n; i++) {
    const c = buf[i];
    if (c === QUOTE) {
      const next = skipString(buf, i);
      if (next === -1) return WALK;
      i = next - 1;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (--depth === 0) break;
    }
  }
  if (depth !== 0 || buf[i] !== 0x7d) return WALK;
  for (i++; i < n; i++) if (!isJsonSpace(buf[i])) return WALK;
  if (flat) return flat;
  if (valueEnd - valueStart > MAX_USAGE_BYTES) return undefined;
  return countsOf(buf, valueStart, valueEnd);
}

/** Bytes from the end looked through in JS for `usage"` before a native search takes over. */
const TAIL_SCAN = 512;

/**
 * The offset of the last `usage"` (its `u`), or -1. The usage object ends the answer, a few
 * dozen bytes from its end: a JS search over those costs less than a native one (see
 * usage-key-search.ts); an answer without one near its end goes to the native search from there.
 */
function lastUsageKey(buf: Buffer): number {
  const n = buf.length;
  const floor = Math.max(0, n - TAIL_SCAN);
  const hit = lastUsageQuote(buf, floor, n);
  return hit !== -1 || floor === 0 ? hit : buf.lastIndexOf(USAGE_QUOTE, floor - 1);
}

/** Whether a key's raw bytes (between its quotes) spell "usage", escapes decoded. */
function isUsageKey(raw: Buffer): boolean {
  if (raw.length === USAGE_KEY.length) return raw.equals(USAGE_KEY);
  if (raw.length < USAGE_KEY.length || raw.length > MAX_KEY_BYTES || !raw.includes(BACKSLASH)) return false;
  try {
    return JSON.parse(`"${raw.toString('utf8')}"`) === 'usage';
  } catch {
    return false;
  }
}

/**
 * The closing quote of a string whose unread part starts at `from` (no escape pending there): its
 * offset, or -1 when the string goes on past the chunk, -2 when it does and the chunk ends in an
 * escape. O(bytes scanned): each candidate quote looks back only over the backslashes before it.
 */
function closingQuote(buf: Buffer, from: number): number {
  let at = from;
  for (;;) {
    const q = nextQuote(buf, at);
    if (q === -1) return backslashRun(buf, buf.length, from) % 2 === 1 ? -2 : -1;
    if (backslashRun(buf, q, from) % 2 === 0) return q;
    at = q + 1;
  }
}

/**
 * The next quote from `at`, or -1. Most strings of an answer are a few bytes (its keys, ids,
 * roles): those are looked through in JS, as a native search costs more per call than that; a
 * longer one (the content) goes to the native search past the first bytes.
 */
function nextQuote(buf: Buffer, at: number): number {
  const stop = Math.min(buf.length, at + SHORT_STRING);
  for (let i = at; i < stop; i++) if (buf[i] === QUOTE) return i;
  return stop === buf.length ? -1 : buf.indexOf(QUOTE, stop);
}

/** Bytes looked through in JS before a string's quote is searched for natively. */
const SHORT_STRING = 32;

/** isUsageKey of buf[from, to), without a view for the common key that is plainly not "usage". */
function isUsageKeyAt(buf: Buffer, from: number, to: number): boolean {
  const len = to - from;
  if (len === USAGE_KEY.length) {
    for (let k = 0; k < len; k++) if (buf[from + k] !== USAGE_KEY[k]) return false;
    return true;
  }
  if (len < USAGE_KEY.length || len > MAX_KEY_BYTES) return false;
  for (let k = from; k < to; k++) if (buf[k] === BACKSLASH) return isUsageKey(buf.subarray(from, to));
  return false;
}

/** How many backslashes come right before `end`, not looking before `floor`. */
function backslashRun(buf: Buffer, end: number, floor: number): number {
  let run = 0;
  for (let k = end - 1; k >= floor && buf[k] === BACKSLASH; k--) run++;
  return run;
}
