import { MAX_USAGE_BYTES, type TokenCounts, countsOf } from './usage-counts';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const USAGE_KEY = 'usage';
/** Top-level keys longer than this cannot be "usage" (escapes included). */
const MAX_KEY_BYTES = 64;

/**
 * Finds the top-level `usage` object of a plain (non-streamed) JSON answer as its chunks pass,
 * without holding the answer: a state machine that tracks nesting and strings, captures the
 * top-level keys (at most 64 bytes each) and the bytes of the `usage` value (at most
 * MAX_USAGE_BYTES). O(chunk) per chunk, with a native search for the end of each string, so a
 * large embeddings answer costs one pass and nothing is kept but the small usage text.
 * A malformed answer simply yields no usage.
 */
export class JsonUsageScanner {
  usage: TokenCounts | undefined;
  private depth = 0;
  private inString = false;
  private escape = false;
  /** The string being read is a top-level key. */
  private inKey = false;
  private key: number[] = [];
  private keyOverflow = false;
  /** A top-level key expected next (after '{' or ','). */
  private expectKey = false;
  private lastKey = '';
  /** Capturing the value of the top-level "usage". */
  private capturing = false;
  private captured: Buffer[] = [];
  private capturedBytes = 0;
  private failed = false;

  push(chunk: Uint8Array): void {
    if (this.failed) return;
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    let captureFrom = this.capturing ? 0 : -1;
    const n = buf.length;
    for (let i = 0; i < n; i++) {
      const c = buf[i];
      if (this.inString) {
        if (this.escape) {
          this.escape = false;
          if (this.inKey) this.keyByte(c);
          continue;
        }
        if (c === BACKSLASH) {
          this.escape = true;
          if (this.inKey) this.keyByte(c);
          continue;
        }
        if (c === QUOTE) {
          this.inString = false;
          if (this.inKey) this.endKey();
          continue;
        }
        if (this.inKey) {
          this.keyByte(c);
          continue;
        }
        // Inside a value's string: jump to its closing quote (one not after an odd run of
        // backslashes), or to the chunk's end with the escape state its last bytes leave.
        const close = closingQuote(buf, i);
        if (close < 0) {
          this.escape = close === -2;
          break;
        }
        this.inString = false;
        i = close;
        continue;
      }
      switch (c) {
        case QUOTE:
          this.inString = true;
          if (this.depth === 1 && this.expectKey) {
            this.inKey = true;
            this.key = [];
            this.keyOverflow = false;
          }
          break;
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
            if (this.lastKey === USAGE_KEY && !this.usage) {
              this.capturing = true;
              captureFrom = i + 1;
            }
          }
          break;
        case 0x2c:
          if (this.depth === 1) {
            if (this.capturing) this.endCapture(buf, captureFrom, i);
            this.expectKey = true;
          }
          break;
      }
    }
    if (this.capturing && captureFrom >= 0) this.keep(buf.subarray(captureFrom));
  }

  private keyByte(c: number): void {
    if (this.key.length >= MAX_KEY_BYTES) this.keyOverflow = true;
    else this.key.push(c);
  }

  private endKey(): void {
    this.inKey = false;
    if (this.keyOverflow) {
      this.lastKey = '';
      return;
    }
    const raw = Buffer.from(this.key).toString('utf8');
    try {
      this.lastKey = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
    } catch {
      this.lastKey = '';
    }
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
    this.usage = countsOf(Buffer.concat(this.captured).toString('utf8').trim());
    this.captured = [];
  }

  private fail(): void {
    this.failed = true;
    this.capturing = false;
    this.captured = [];
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
    const q = buf.indexOf(QUOTE, at);
    if (q === -1) return backslashRun(buf, buf.length, from) % 2 === 1 ? -2 : -1;
    if (backslashRun(buf, q, from) % 2 === 0) return q;
    at = q + 1;
  }
}

/** How many backslashes come right before `end`, not looking before `floor`. */
function backslashRun(buf: Buffer, end: number, floor: number): number {
  let run = 0;
  for (let k = end - 1; k >= floor && buf[k] === BACKSLASH; k--) run++;
  return run;
}
