import { memberCut, topLevelMembers, valueText } from './json-top-members';
import { type TokenCounts, countsOf } from './usage-counts';

/** What one chunk became: the bytes to pass on, and how many were removed for good. */
export interface SseOutput {
  out: Uint8Array;
  /** Bytes of the input (this chunk or held ones) that will never be passed on. */
  dropped: number;
}

/**
 * A line longer than this is not looked into: it is passed on as it is and its usage, if any, is
 * not counted. Events of chat answers are a few hundred bytes; this bounds what is held per
 * answer whatever the model server sends.
 */
export const MAX_SSE_LINE = 64 * 1024;

const NL = 0x0a;
const USAGE = Buffer.from('"usage"');
const NULL_LAST = Buffer.from(',"usage":null}');
const NULL_EVENT_END = Buffer.from(',"usage":null}\n\n');
const EVENT_END = Buffer.from('}\n\n');
const LINE_KEYS: ReadonlySet<string> = new Set(['usage', 'choices']);
const EMPTY = new Uint8Array(0);

/**
 * Reads the `usage` of a streamed (SSE) answer as it passes, chunk by chunk, whatever the chunk
 * boundaries (a line may be split anywhere). With `strip`, for a caller that did not ask for
 * usage (the gateway asked in its place, usage-request.ts), it also removes what that caller
 * would not have got: the usage event (a `data:` line whose `choices` is `[]` and whose `usage`
 * is an object, with its blank line) and the `"usage":null` member of the other events.
 *
 * Work per chunk is a native search for newlines and `"usage"`; only a line holding `"usage"`
 * is looked into (one pass over it, json-top-members.ts). Without `strip` chunks go on as they
 * came; with it the end of a chunk that is not yet a whole line is held until its newline
 * (at most {@link MAX_SSE_LINE} bytes, then it goes on as it is).
 */
export class SseUsageTap {
  /** The last usage object seen (with continuous usage stats every event has one). */
  usage: TokenCounts | undefined;
  /** Bytes of the current line that arrived in earlier chunks (copied: chunks are not ours to keep). */
  private carry: Buffer[] = [];
  private carryBytes = 0;
  /** The current line outgrew MAX_SSE_LINE: it is passed through (strip) or ignored until its newline. */
  private oversized = false;
  /** The previous line was a dropped usage event: its blank line goes too. */
  private dropBlank = false;

  constructor(private readonly strip: boolean) {}

  /** Bytes held back from the output (the start of an unfinished line, when stripping). */
  get heldBytes(): number {
    return this.strip ? this.carryBytes : 0;
  }

  push(chunk: Uint8Array): SseOutput {
    return this.strip ? this.pushStripping(asBuffer(chunk)) : this.observe(chunk);
  }

  /** The answer ended: what is held goes out as it is (an unterminated line is no event). */
  end(): SseOutput {
    const held = this.takeCarry();
    if (held.length > 0 && !this.oversized) this.inspect(held);
    this.oversized = false;
    return { out: this.strip ? held : EMPTY, dropped: 0 };
  }

  /** Without strip: look at the lines holding "usage", pass the chunk on untouched. */
  private observe(chunk: Uint8Array): SseOutput {
    const buf = asBuffer(chunk);
    let pos = 0;
    if (this.carryBytes > 0 || this.oversized) {
      const nl = buf.indexOf(NL);
      if (nl === -1) {
        this.hold(buf, 0, buf.length);
        return { out: chunk, dropped: 0 };
      }
      if (!this.oversized && this.carryBytes + nl <= MAX_SSE_LINE) this.inspect(Buffer.concat([this.takeCarry(), buf.subarray(0, nl)]));
      else this.takeCarry();
      this.oversized = false;
      pos = nl + 1;
    }
    for (;;) {
      const hit = buf.indexOf(USAGE, pos);
      if (hit === -1) break;
      const start = Math.max(pos, buf.lastIndexOf(NL, hit) + 1);
      const nl = buf.indexOf(NL, hit);
      if (nl === -1) break;
      this.inspect(buf.subarray(start, nl));
      pos = nl + 1;
    }
    // The unfinished last line may hold the start of "usage": keep it for the next chunk.
    const lastNl = buf.lastIndexOf(NL);
    const tail = Math.max(pos, lastNl + 1);
    if (tail < buf.length) this.hold(buf, tail, buf.length);
    return { out: chunk, dropped: 0 };
  }

  /**
   * With strip: whole lines are looked at in place and what they keep is passed on as runs of
   * the chunk (one copy per chunk at most, none when nothing is cut); the unfinished last line
   * is held. Lines without `"usage"` cost only the newline search.
   */
  private pushStripping(buf: Buffer): SseOutput {
    const n = buf.length;
    if (this.carryBytes === 0 && !this.oversized && !this.dropBlank && n > 0 && buf[n - 1] === NL) {
      const first = buf.indexOf(USAGE);
      // Most chunks: whole events, nothing of ours in them.
      if (first === -1) return { out: buf, dropped: 0 };
      // The next most: one token's event ending `,"usage":null}\n\n`, its only "usage" (see cutOf).
      const at = n - NULL_EVENT_END.length;
      if (first === at + 1 && buf.compare(NULL_EVENT_END, 0, NULL_EVENT_END.length, at, n) === 0 && isDataLine(buf, buf.lastIndexOf(NL, at) + 1, n)) {
        const out = Buffer.allocUnsafe(at + EVENT_END.length);
        buf.copy(out, 0, 0, at);
        out.set(EVENT_END, at);
        return { out, dropped: n - out.length };
      }
    }
    const heldBefore = this.carryBytes;
    const parts: Uint8Array[] = [];
    let runStart = 0;
    let pos = 0;
    if (this.carryBytes > 0 || this.oversized) {
      const nl = buf.indexOf(NL);
      if (this.oversized) {
        // The rest of a line too long to look into: on as it is.
        if (nl !== -1) this.oversized = false;
        pos = nl === -1 ? n : nl + 1;
      } else if (nl === -1) {
        if (this.carryBytes + n <= MAX_SSE_LINE) {
          this.hold(buf, 0, n);
          return { out: EMPTY, dropped: 0 };
        }
        parts.push(this.takeCarry());
        this.oversized = true;
        pos = n;
      } else {
        const line = Buffer.concat([this.takeCarry(), buf.subarray(0, nl + 1)]);
        const cut = this.cutOf(line, 0, line.length, line.indexOf(USAGE));
        if (!cut) parts.push(line);
        else {
          if (cut[0] > 0) parts.push(line.subarray(0, cut[0]));
          if (cut[1] < line.length) parts.push(line.subarray(cut[1]));
        }
        runStart = pos = nl + 1;
      }
    }
    // The whole lines of the chunk: only those holding "usage" are looked at, found hit by hit
    // (plus the blank line after a dropped usage event); the rest pass as one run.
    const whole = this.oversized ? pos : Math.max(pos, buf.lastIndexOf(NL) + 1);
    if (this.dropBlank && pos < whole) {
      const nl = buf.indexOf(NL, pos);
      const cut = this.cutOf(buf, pos, nl + 1, -1);
      if (cut) {
        if (cut[0] > runStart) parts.push(buf.subarray(runStart, cut[0]));
        runStart = cut[1];
      }
      pos = nl + 1;
    }
    for (let hit = pos < whole ? buf.indexOf(USAGE, pos) : -1; hit !== -1 && hit < whole; hit = buf.indexOf(USAGE, pos)) {
      const lineStart = Math.max(pos, buf.lastIndexOf(NL, hit) + 1);
      const nl = buf.indexOf(NL, hit);
      const cut = this.cutOf(buf, lineStart, nl + 1, hit);
      if (cut) {
        if (cut[0] > runStart) parts.push(buf.subarray(runStart, cut[0]));
        runStart = cut[1];
      }
      pos = nl + 1;
      if (this.dropBlank && pos < whole) {
        // The usage event's blank line.
        const next = buf.indexOf(NL, pos);
        const blank = this.cutOf(buf, pos, next + 1, -1);
        if (blank) {
          if (blank[0] > runStart) parts.push(buf.subarray(runStart, blank[0]));
          runStart = blank[1];
        }
        pos = next + 1;
      }
      if (pos >= whole) break;
    }
    pos = whole;
    let runEnd = n;
    if (pos < n && !this.oversized) {
      if (n - pos > MAX_SSE_LINE) this.oversized = true;
      else {
        this.hold(buf, pos, n);
        runEnd = pos;
      }
    }
    if (runEnd > runStart) parts.push(runStart === 0 && runEnd === n ? buf : buf.subarray(runStart, runEnd));
    const out = parts.length === 0 ? EMPTY : parts.length === 1 ? parts[0] : Buffer.concat(parts);
    return { out, dropped: heldBefore + n - out.length - this.carryBytes };
  }

  /**
   * What to cut of the whole line buf[from, to) (with its newline), given where its first
   * `"usage"` is (-1: none): nothing (undefined), its `"usage":null` member, or all of it (the
   * usage event, and the blank line after it). Offsets are into `buf`.
   */
  private cutOf(buf: Buffer, from: number, to: number, hit: number): [number, number] | undefined {
    if (this.dropBlank) {
      this.dropBlank = false;
      if (lineEndOf(buf, from, to) === from) return [from, to];
    }
    if (hit === -1 || !isDataLine(buf, from, to)) return undefined;
    const end = lineEndOf(buf, from, to);
    // The common case, once per token: the member is the object's last (`…,"usage":null}`) and
    // the only "usage" of the line. In a JSON object a `,"usage":null` right before its final
    // brace can only be a top-level member, so it is cut without walking the line.
    if (hit - 1 === end - NULL_LAST.length && buf.compare(NULL_LAST, 0, NULL_LAST.length, hit - 1, end) === 0) return [hit - 1, end - 1];
    const top = topLevelMembers(buf, LINE_KEYS, payloadOf(buf, from), end);
    const usage = top?.members.get('usage');
    if (!top || !usage || usage.count > 1) return undefined;
    const value = valueText(buf, usage);
    if (value === 'null') return memberCut(usage);
    const counts = countsOf(value);
    if (counts) this.usage = counts;
    const choices = top.members.get('choices');
    if (counts && choices && valueText(buf, choices).replace(/\s+/g, '') === '[]') {
      this.dropBlank = true;
      return [from, to];
    }
    return undefined;
  }

  /** Reads the usage of one line (without its newline, or the unterminated last one). */
  private inspect(line: Buffer): void {
    const hit = line.indexOf(USAGE);
    if (hit === -1 || !isDataLine(line, 0, line.length)) return;
    const end = lineEndOf(line, 0, line.length);
    // `…,"usage":null}`: nothing to count (see cutOf).
    if (hit - 1 === end - NULL_LAST.length && line.compare(NULL_LAST, 0, NULL_LAST.length, hit - 1, end) === 0) return;
    const usage = topLevelMembers(line, LINE_KEYS, payloadOf(line, 0), end)?.members.get('usage');
    if (!usage || usage.count > 1) return;
    const counts = countsOf(valueText(line, usage));
    if (counts) this.usage = counts;
  }

  private hold(buf: Buffer, from: number, to: number): void {
    if (this.oversized) return;
    if (this.carryBytes + (to - from) > MAX_SSE_LINE) {
      this.carry = [];
      this.carryBytes = 0;
      this.oversized = true;
      return;
    }
    this.carry.push(Buffer.from(buf.subarray(from, to)));
    this.carryBytes += to - from;
  }

  private takeCarry(): Buffer {
    const held = this.carry.length === 1 ? this.carry[0] : Buffer.concat(this.carry);
    this.carry = [];
    this.carryBytes = 0;
    return held;
  }
}

/** Whether buf[from, to) is a `data:` line. */
function isDataLine(buf: Uint8Array, from: number, to: number): boolean {
  return to - from >= 6 && buf[from] === 0x64 && buf[from + 1] === 0x61 && buf[from + 2] === 0x74 && buf[from + 3] === 0x61 && buf[from + 4] === 0x3a;
}

/** Where the JSON of the `data:` line at `from` starts (after one optional space). */
function payloadOf(buf: Uint8Array, from: number): number {
  return buf[from + 5] === 0x20 ? from + 6 : from + 5;
}

/** The end of the line buf[from, to) without its line ending (\n or \r\n). */
function lineEndOf(buf: Uint8Array, from: number, to: number): number {
  let end = to;
  if (end > from && buf[end - 1] === NL) end--;
  if (end > from && buf[end - 1] === 0x0d) end--;
  return end;
}

/** The chunk as a Buffer, without a copy (the broker's chunks mostly are Buffers already). */
function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
}
