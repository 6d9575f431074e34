import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunksAt, fuzzRuns, fuzzSeed } from '@st/testing';
import { MAX_SSE_LINE, SseUsageTap } from './usage-sse';

const SETTINGS = { seed: fuzzSeed(), numRuns: fuzzRuns(300) };

interface StreamShape {
  tokens: string[];
  prompt: number;
  completion: number;
  /** Event separator: what a model server ends lines with. */
  eol: '\n' | '\r\n';
  /** Whether the stream ends with [DONE] (a cut-short one does not). */
  done: boolean;
  /**
   * With include_usage, whether every other event carries `"usage":null` (OpenAI's API) or no
   * usage member at all (vLLM's: pydantic's exclude_unset).
   */
  usageNull: boolean;
}

/** An OpenAI or vLLM chat stream as the model server writes it, with or without include_usage. */
function upstream(s: StreamShape, includeUsage: boolean): Buffer {
  const base = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[';
  const tail = includeUsage && s.usageNull ? ',"usage":null}' : '}';
  const events = s.tokens.map((t) => `data: ${base}{"index":0,"delta":{"content":${JSON.stringify(t)}},"finish_reason":null}]${tail}`);
  events.push(`data: ${base}{"index":0,"delta":{},"finish_reason":"stop"}]${tail}`);
  if (includeUsage) {
    events.push(`data: ${base}],"usage":{"prompt_tokens":${s.prompt},"completion_tokens":${s.completion},"total_tokens":${s.prompt + s.completion}}}`);
  }
  if (s.done) events.push('data: [DONE]');
  return Buffer.from(events.map((e) => `${e}${s.eol}${s.eol}`).join(''));
}

/** `bytes` cut at the given offsets, as copies: the tap cuts what it strips out of the chunks it is given, in place. */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  return chunksAt(bytes, cuts).map((c) => Buffer.from(c));
}

/** Runs the tap over the chunks; the bytes it passed on, and the byte accounting. */
function run(tap: SseUsageTap, chunks: Buffer[]): { out: Buffer; dropped: number } {
  const parts: Uint8Array[] = [];
  let dropped = 0;
  for (const c of chunks) {
    const r = tap.push(c);
    if (r.lead) parts.push(r.lead);
    parts.push(r.out);
    dropped += r.dropped;
  }
  const end = tap.end();
  parts.push(end.out);
  dropped += end.dropped;
  return { out: Buffer.concat(parts), dropped };
}

const shape: fc.Arbitrary<StreamShape> = fc.record({
  // Content that looks like the keys the tap looks for, quotes, escapes and newlines included.
  tokens: fc.array(fc.oneof(fc.string(), fc.constantFrom('"usage":null', '"usage"', 'usage"', 'xusage""usage', '\\', '\n\n', 'data: {"usage":{}}', '"choices":[]')), { maxLength: 12 }),
  prompt: fc.nat(1_000_000),
  completion: fc.nat(1_000_000),
  eol: fc.constantFrom('\n' as const, '\r\n' as const),
  done: fc.boolean(),
  usageNull: fc.boolean(),
});
const cuts = fc.array(fc.nat(), { maxLength: 30 });

describe('SseUsageTap', () => {
  it('strips exactly what include_usage added, wherever the chunks split, and reads the usage', () => {
    fc.assert(
      fc.property(shape, cuts, (s, at) => {
        const asked = upstream(s, true);
        const tap = new SseUsageTap(true);
        const { out, dropped } = run(tap, split(asked, at));
        expect(out.toString()).toBe(upstream(s, false).toString());
        expect(out.length + dropped).toBe(asked.length);
        expect(tap.usage).toEqual({ promptTokens: s.prompt, completionTokens: s.completion });
      }),
      SETTINGS,
    );
  });

  it('passes a stream the caller asked usage for untouched, chunk for chunk, and reads the usage', () => {
    fc.assert(
      fc.property(shape, cuts, (s, at) => {
        const bytes = upstream(s, true);
        const chunks = split(bytes, at);
        const tap = new SseUsageTap(false);
        for (const c of chunks) {
          const r = tap.push(c);
          expect(r.out).toBe(c);
          expect(r.dropped).toBe(0);
        }
        expect(tap.end().out.length).toBe(0);
        expect(tap.usage).toEqual({ promptTokens: s.prompt, completionTokens: s.completion });
      }),
      SETTINGS,
    );
  });

  it('reads no usage from a stream cut before its usage event, and passes what came', () => {
    fc.assert(
      fc.property(shape, cuts, fc.nat(), (s, at, cutAt) => {
        const full = upstream(s, true);
        const usageAt = full.indexOf('"choices":[],"usage"');
        const cut = full.subarray(0, cutAt % (usageAt + 1));
        const tap = new SseUsageTap(true);
        const { out, dropped } = run(tap, split(cut, at));
        expect(tap.usage).toBeUndefined();
        expect(out.length + dropped).toBe(cut.length);
        // What was passed is a prefix of what the caller would have seen without the rewrite.
        expect(upstream(s, false).toString().startsWith(out.toString().slice(0, out.lastIndexOf('\n') + 1))).toBe(true);
      }),
      SETTINGS,
    );
  });

  it('keeps the last usage of a stream with continuous usage stats, and leaves those objects in', () => {
    const events = [1, 2, 3].map((n) => `data: {"choices":[{"delta":{"content":"x"}}],"usage":{"prompt_tokens":5,"completion_tokens":${n}}}\n\n`);
    const bytes = Buffer.from(events.join('') + 'data: [DONE]\n\n');
    const tap = new SseUsageTap(true);
    expect(run(tap, split(bytes, [7, 40, 90])).out.toString()).toBe(bytes.toString());
    expect(tap.usage).toEqual({ promptTokens: 5, completionTokens: 3 });
  });

  it('finds the usage member wherever it is in the event, split anywhere, and strips its event', () => {
    const kept = 'data: {"choices":[{"delta":{"content":"usage\\"\\"usage"}}],"x":"usage"}\n\n';
    const usage = 'data: {"usage":{"prompt_tokens":1,"completion_tokens":2},"choices":[]}\n\n';
    const bytes = Buffer.from(kept + usage + 'data: [DONE]\n\n');
    for (let at = 0; at <= bytes.length; at++) {
      const tap = new SseUsageTap(true);
      expect(run(tap, split(bytes, [at])).out.toString()).toBe(kept + 'data: [DONE]\n\n');
      expect(tap.usage).toEqual({ promptTokens: 1, completionTokens: 2 });
    }
  });

  it('lets a line longer than its bound through untouched, holding at most the bound', () => {
    const huge = `data: {"choices":[{"delta":{"content":"${'a'.repeat(MAX_SSE_LINE * 2)}"}}],"usage":null}\n\n`;
    const bytes = Buffer.from(huge + 'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\ndata: [DONE]\n\n');
    const tap = new SseUsageTap(true);
    const chunks = split(bytes, Array.from({ length: 40 }, (_, i) => i * 4096));
    const parts: Uint8Array[] = [];
    for (const c of chunks) {
      const r = tap.push(c);
      if (r.lead) parts.push(r.lead);
      parts.push(r.out);
      expect(tap.heldBytes).toBeLessThanOrEqual(MAX_SSE_LINE);
    }
    parts.push(tap.end().out);
    expect(Buffer.concat(parts).toString()).toBe(huge + 'data: [DONE]\n\n');
    expect(tap.usage).toEqual({ promptTokens: 1, completionTokens: 2 });
  });

  it('ignores what is not a data line or not JSON', () => {
    const bytes = Buffer.from(': comment "usage"\n\nevent: x\ndata: not json "usage":{}\n\ndata: {"usage":{"prompt_tokens":"7"}}\n\n');
    const tap = new SseUsageTap(true);
    expect(run(tap, [bytes]).out.toString()).toBe(bytes.toString());
    expect(tap.usage).toEqual({ promptTokens: 0, completionTokens: 0 });
  });
});
