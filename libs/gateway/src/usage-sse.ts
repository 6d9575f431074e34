import { type TopMember, bytesAt, memberCut, topLevelMembers, valueText } from './json-top-members';
import { type TokenCounts, countsOf } from './usage-counts';

/** What one chunk became: the bytes to pass on, and how many were removed for good. */
export interface SseOutput {
  out: Uint8Array;
  /**
   * Bytes to pass on before `out`, when a line began in an earlier chunk: its kept bytes, apart,
   * so that `out` stays the chunk itself (cut in place) instead of a copy of both.
   */
  lead?: Uint8Array;
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
const CR = 0x0d;
const QUOTE = 0x22;
/** `"usage"` without its opening quote: see findUsage. */
const USAGE_TAIL = Buffer.from('usage"');
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

  /**
   * `chunk` is handed over: with strip, what is cut is cut out of it in place (the exchange's
   * chunks are read once, by whoever they are passed on to); it may be held on to only as a copy.
   */
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
    const tail = Math.max(pos, buf.lastIndexOf(NL) + 1);
    // A line ending in `,"usage":null}` has nothing to count (see cutOf): skipped unread.
    this.walkLines(buf, pos, tail, () => undefined, (from, nl) => {
      this.inspect(buf.subarray(from, nl));
      return nl + 1;
    });
    // The unfinished last line may hold the start of "usage": keep it for the next chunk.
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
      const first = findUsage(buf, 0);
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
    let lead: Uint8Array | undefined;
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
        lead = this.takeCarry();
        this.oversized = true;
        pos = n;
      } else {
        // The line is a copy of our own: what it keeps is compacted in place.
        const line = Buffer.concat([this.takeCarry(), buf.subarray(0, nl + 1)]);
        const cut = this.cutOf(line, 0, line.length, findUsage(line, 0));
        if (cut) line.copyWithin(cut[0], cut[1]);
        lead = cut ? line.subarray(0, line.length - (cut[1] - cut[0])) : line;
        if (lead.length === 0) lead = undefined;
        runStart = pos = nl + 1;
      }
    }
    // The whole lines of the chunk (see walkLines): only those that may hold "usage" are looked
    // at, and what they keep passes on as runs of the chunk copied into one buffer.
    const whole = this.oversized ? pos : Math.max(pos, buf.lastIndexOf(NL) + 1);
    // What is kept is compacted in place, run by run, in the chunk itself (the sink's chunks are
    // handed over, see push): copyWithin allocates nothing, where a copy of the chunk cost as much
    // again as the cutting (a new buffer per chunk, and its garbage), and a copy per run a view.
    let cutting = false;
    let outStart = 0;
    let o = 0;
    const keep = (to: number): void => {
      if (to <= runStart) return;
      if (o !== runStart) buf.copyWithin(o, runStart, to);
      o += to - runStart;
    };
    const drop = (from: number, to: number): void => {
      if (!cutting) {
        cutting = true;
        outStart = o = runStart;
      }
      keep(from);
      runStart = to;
    };
    if (this.dropBlank && pos < whole) {
      const nl = buf.indexOf(NL, pos);
      const blank = this.cutOf(buf, pos, nl + 1, -1);
      if (blank) drop(blank[0], blank[1]);
      pos = nl + 1;
    }
    this.walkLines(buf, pos, whole, (_from, _nl, end) => drop(end - NULL_LAST.length, end - 1), (from, nl, hit) => {
      const c = this.cutOf(buf, from, nl + 1, hit);
      if (c) drop(c[0], c[1]);
      if (!this.dropBlank || nl + 1 >= whole) return nl + 1;
      // The usage event's blank line.
      const next = buf.indexOf(NL, nl + 1);
      const blank = this.cutOf(buf, nl + 1, next + 1, -1);
      if (blank) drop(blank[0], blank[1]);
      return next + 1;
    });
    pos = whole;
    let runEnd = n;
    if (pos < n && !this.oversized) {
      if (n - pos > MAX_SSE_LINE) this.oversized = true;
      else {
        this.hold(buf, pos, n);
        runEnd = pos;
      }
    }
    let out: Uint8Array = EMPTY;
    if (cutting) {
      keep(runEnd);
      out = buf.subarray(outStart, o);
    } else if (runEnd > runStart) out = runStart === 0 && runEnd === n ? buf : buf.subarray(runStart, runEnd);
    const passed = out.length + (lead?.length ?? 0);
    if (!lead) return { out, dropped: heldBefore + n - passed - this.carryBytes };
    if (out.length === 0) return { out: lead, dropped: heldBefore + n - passed - this.carryBytes };
    return { out, lead, dropped: heldBefore + n - passed - this.carryBytes };
  }

  /**
   * Visits the whole lines of buf[pos, whole) that may hold `"usage"`, at a native call or two
   * per such line and none per other line: `onNull(from, nl, end)` for a `data:` line ending in
   * `,"usage":null}` (OpenAI's every event once usage is asked for), `onUsage(from, nl, hit)`
   * for another line holding `"usage"` (first at `hit`), which returns where to go on. Lines
   * are found by searching for `"usage"` (a search per hit: dear, as quotes abound in JSON)
   * until a line ends in the null member; from then on, while they do, line by line by their
   * newlines (one memchr each) and a look at their last bytes, which also skips blank lines.
   * In that dense stretch an earlier duplicate of the member on a line is not looked for (a
   * model server sends none; JSON readers would keep the last one anyway).
   */
  private walkLines(
    buf: Buffer,
    pos: number,
    whole: number,
    onNull: (from: number, nl: number, end: number) => void,
    onUsage: (from: number, nl: number, hit: number) => number,
  ): void {
    let dense = false;
    while (pos < whole) {
      let from: number;
      let nl: number;
      let hit = -1;
      if (dense) {
        // Blank lines (every other line of SSE) without a native call.
        if (buf[pos] === NL) {
          pos++;
          continue;
        }
        if (buf[pos] === CR && buf[pos + 1] === NL) {
          pos += 2;
          continue;
        }
        from = pos;
        nl = buf.indexOf(NL, pos);
      } else {
        hit = findUsage(buf, pos);
        if (hit === -1 || hit >= whole) return;
        from = Math.max(pos, buf.lastIndexOf(NL, hit) + 1);
        nl = buf.indexOf(NL, hit);
      }
      const end = lineEndOf(buf, from, nl + 1);
      const last = end - NULL_LAST.length;
      if ((dense || hit === last + 1) && last > from && endsWithNull(buf, last) && isDataLine(buf, from, nl + 1)) {
        onNull(from, nl, end);
        dense = true;
        pos = nl + 1;
      } else if (dense) {
        // Not the null member: looked at again by searching, from this line.
        dense = false;
      } else pos = onUsage(from, nl, hit);
    }
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
    if (isNullAt(buf, usage)) return memberCut(usage);
    const counts = countsOf(buf, usage.valueStart, usage.valueEnd);
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
    const hit = findUsage(line, 0);
    if (hit === -1 || !isDataLine(line, 0, line.length)) return;
    const end = lineEndOf(line, 0, line.length);
    // `…,"usage":null}`: nothing to count (see cutOf).
    if (hit - 1 === end - NULL_LAST.length && line.compare(NULL_LAST, 0, NULL_LAST.length, hit - 1, end) === 0) return;
    const usage = topLevelMembers(line, LINE_KEYS, payloadOf(line, 0), end)?.members.get('usage');
    if (!usage || usage.count > 1) return;
    const counts = countsOf(line, usage.valueStart, usage.valueEnd);
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

const NULL = Buffer.from('null');

/** Whether the member's value is `null`, compared in place (no string per usage event). */
function isNullAt(buf: Uint8Array, m: TopMember): boolean {
  return m.valueEnd - m.valueStart === NULL.length && bytesAt(buf, m.valueStart, m.valueEnd, NULL);
}

/**
 * Where the first `"usage"` of buf[from, …) starts (-1: none). Searched for as `usage"`, then its
 * quote checked: Node searches a needle that short with a memchr for its first byte, and a `u` is
 * rare in SSE JSON where a `"` is every few bytes (the search for `"usage"`, a Boyer-Moore-Horspool
 * on its last byte, a quote, cost about 1 ns per byte, five times this, on vLLM's streams, where
 * nothing but the usage event holds the key and every byte is searched).
 */
function findUsage(buf: Buffer, from: number): number {
  let at = buf.indexOf(USAGE_TAIL, from + 1);
  while (at !== -1 && buf[at - 1] !== QUOTE) at = buf.indexOf(USAGE_TAIL, at + 1);
  return at === -1 ? -1 : at - 1;
}

/** Whether buf[at, at + 14) is `,"usage":null}` (a few byte compares: cheaper than a native call). */
function endsWithNull(buf: Buffer, at: number): boolean {
  return bytesAt(buf, at, buf.length, NULL_LAST);
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
