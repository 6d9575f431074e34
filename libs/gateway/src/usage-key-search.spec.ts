import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lastUsageQuote } from './usage-key-search';

const NEEDLE = Buffer.from('usage"');
// Bytes of the pattern and a few others, so that near-matches and overlaps are common.
const text = fc.array(fc.constantFrom(...'usage"xe\\u'.split('')), { maxLength: 200 }).map((cs) => Buffer.from(cs.join('')));

describe('usage" search', () => {
  it('finds what Buffer#lastIndexOf finds, within any range', () => {
    fc.assert(
      fc.property(text, fc.nat(), fc.nat(), (buf, x, y) => {
        const from = x % (buf.length + 1);
        const to = from + (y % (buf.length - from + 1));
        const range = buf.subarray(from, to);
        const last = range.lastIndexOf(NEEDLE);
        expect(lastUsageQuote(buf, from, to)).toBe(last === -1 ? -1 : from + last);
      }),
      { numRuns: 2000 },
    );
  });

  it('finds the key near the end of a real answer and nothing in one without it', () => {
    expect(lastUsageQuote(NEEDLE, 0, NEEDLE.length)).toBe(0);
    const answer = Buffer.from('{"id":"c-1","choices":[{"message":{"content":"no such word"}}],"usage":{"prompt_tokens":3}}');
    expect(lastUsageQuote(answer, 0, answer.length)).toBe(answer.indexOf('usage"'));
    const none = Buffer.from('{"id":"c-1","object":"list","data":[]}');
    expect(lastUsageQuote(none, 0, none.length)).toBe(-1);
    expect(lastUsageQuote(NEEDLE, 0, NEEDLE.length - 1)).toBe(-1);
  });
});
