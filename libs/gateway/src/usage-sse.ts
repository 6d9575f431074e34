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
    return this.strip ? this.pushStripping(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length)) : this.observe(chunk);
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
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
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

  private pushStripping(buf: Buffer): SseOutput {
    const heldBefore = this.carryBytes;
    const parts: Uint8Array[] = [];
    let pos = 0;
    let changed = heldBefore > 0 || this.oversized;
    for (;;) {
      const nl = buf.indexOf(NL, pos);
      if (nl === -1) break;
      if (this.oversized) {
        // The rest of a line too long to look into: on as it is.
        parts.push(buf.subarray(pos, nl + 1));
        this.oversized = false;
      } else if (this.carryBytes > 0) {
        const kept = this.lineOut(Buffer.concat([this.takeCarry(), buf.subarray(pos, nl + 1)]));
        if (kept) parts.push(kept);
      } else {
        const line = buf.subarray(pos, nl + 1);
        const kept = this.lineOut(line);
        if (kept !== line) changed = true;
        if (kept) parts.push(kept);
      }
      pos = nl + 1;
    }
    if (pos < buf.length) {
      changed = true;
      if (this.oversized) parts.push(buf.subarray(pos));
      else if (this.carryBytes + buf.length - pos > MAX_SSE_LINE) {
        parts.push(this.takeCarry(), buf.subarray(pos));
        this.oversized = true;
      } else this.hold(buf, pos, buf.length);
    }
    if (!changed) return { out: buf, dropped: 0 };
    const out = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    return { out, dropped: heldBefore + buf.length - out.length - this.carryBytes };
  }

  /**
   * One whole line (with its newline) as it goes out: the very same object when untouched, the
   * line without its `"usage":null` member, or null when it is dropped (the usage event).
   */
  private lineOut(line: Buffer): Uint8Array | null {
    if (this.dropBlank) {
      this.dropBlank = false;
      if (isBlank(line)) return null;
    }
    const hit = line.indexOf(USAGE);
    if (hit === -1) return line;
    const payload = dataPayload(line);
    if (payload === undefined) return line;
    const end = lineEnd(line);
    // The common case, once per token: the member is the object's last (`…,"usage":null}`) and
    // the only "usage" of the line. In a JSON object a `,"usage":null` right before its final
    // brace can only be a top-level member, so it is cut without walking the line.
    if (end - NULL_LAST.length === hit - 1 && line.subarray(hit - 1, end).equals(NULL_LAST)) {
      return Buffer.concat([line.subarray(0, hit - 1), line.subarray(end - 1)]);
    }
    const top = topLevelMembers(line, LINE_KEYS, payload, end);
    const usage = top?.members.get('usage');
    if (!top || !usage || usage.count > 1) return line;
    const value = valueText(line, usage);
    if (value === 'null') {
      const [cutFrom, cutTo] = memberCut(usage);
      return Buffer.concat([line.subarray(0, cutFrom), line.subarray(cutTo)]);
    }
    const counts = countsOf(value);
    if (counts) this.usage = counts;
    const choices = top.members.get('choices');
    if (counts && choices && valueText(line, choices).replace(/\s+/g, '') === '[]') {
      this.dropBlank = true;
      return null;
    }
    return line;
  }

  /** Reads the usage of one line (without its newline, or the unterminated last one). */
  private inspect(line: Buffer): void {
    if (line.indexOf(USAGE) === -1) return;
    const payload = dataPayload(line);
    if (payload === undefined) return;
    const usage = topLevelMembers(line, LINE_KEYS, payload, lineEnd(line))?.members.get('usage');
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

/** Where the JSON of a `data:` line starts, or undefined for any other line. */
function dataPayload(line: Uint8Array): number | undefined {
  if (line.length < 6 || line[0] !== 0x64 || line[1] !== 0x61 || line[2] !== 0x74 || line[3] !== 0x61 || line[4] !== 0x3a) return undefined;
  return line[5] === 0x20 ? 6 : 5;
}

/** The line's length without its line ending (\n or \r\n). */
function lineEnd(line: Uint8Array): number {
  let end = line.length;
  if (end > 0 && line[end - 1] === NL) end--;
  if (end > 0 && line[end - 1] === 0x0d) end--;
  return end;
}

function isBlank(line: Uint8Array): boolean {
  return lineEnd(line) === 0;
}
