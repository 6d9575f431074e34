import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns, fuzzSeed } from '@st/testing';
import { countsOf, readFlatUsage } from './usage-counts';

const SETTINGS = { seed: fuzzSeed(), numRuns: fuzzRuns(500) };

/** What countsOf meant before its in-place reader: JSON.parse, then whole counts or 0. */
function reference(text: string): { promptTokens: number; completionTokens: number } | undefined {
  let u: unknown;
  try {
    u = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (text.charCodeAt(0) !== 0x7b || typeof u !== 'object' || u === null) return undefined;
  const whole = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);
  const r = u as Record<string, unknown>;
  return { promptTokens: whole(r.prompt_tokens), completionTokens: whole(r.completion_tokens) };
}

const key = fc.constantFrom('prompt_tokens', 'completion_tokens', 'total_tokens', 'prompt_tokens_details', 'prompt\\u005ftokens', 'x');
const value = fc.oneof(
  fc.nat().map(String),
  fc.constantFrom('0', '007', '1.5', '2.0', '1e3', '-4', '12345678901234567', 'null', 'true', 'false', '"9"', '{"cached_tokens":3}', '[1]', 'nul'),
);
const ws = fc.constantFrom('', ' ', '\n  ');

describe('countsOf', () => {
  it('reads what JSON.parse reads (and refuses what it refuses), for flat and nested usage objects', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value, ws), { maxLength: 6 }), ws, (members, end) => {
        const text = `{${members.map(([k, v, w]) => `${w}"${k}"${w}:${w}${v}${w}`).join(',')}${end}}`;
        expect(countsOf(Buffer.from(text))).toEqual(reference(text));
      }),
      SETTINGS,
    );
  });

  it('reads the common shapes', () => {
    expect(countsOf(Buffer.from('{"prompt_tokens":9,"completion_tokens":16,"total_tokens":25}'))).toEqual({ promptTokens: 9, completionTokens: 16 });
    expect(countsOf(Buffer.from('{"prompt_tokens":3,"total_tokens":3}'))).toEqual({ promptTokens: 3, completionTokens: 0 });
    expect(countsOf(Buffer.from('{"prompt_tokens":1,"prompt_tokens":2}'))).toEqual({ promptTokens: 2, completionTokens: 0 });
    expect(countsOf(Buffer.from('{"prompt_tokens":1}x'))).toBeUndefined();
    expect(countsOf(Buffer.from('{}'))).toEqual({ promptTokens: 0, completionTokens: 0 });
    // Only the range is read: the bytes around it are not part of the object.
    expect(countsOf(Buffer.from('x{"prompt_tokens":4} {'), 1, 20)).toEqual({ promptTokens: 4, completionTokens: 0 });
    expect(countsOf(Buffer.from('{"prompt_tokens":4}'), 0, 18)).toBeUndefined();
    expect(countsOf(Buffer.from('{'), 1, 1)).toBeUndefined();
  });

  it('finds where a flat usage object ends as it reads it, whatever follows, and leaves the rest to JSON.parse', () => {
    const flatKey = fc.constantFrom('prompt_tokens', 'completion_tokens', 'total_tokens', 'x');
    fc.assert(
      fc.property(fc.array(fc.tuple(flatKey, fc.nat(), ws), { maxLength: 5 }), fc.array(fc.tuple(key, value, ws), { maxLength: 4 }), fc.constantFrom('', '}', ',"model":"m"}', '  \n'), (flat, odd, after) => {
        // A flat object is read to its closing brace, with JSON.parse's counts, and nothing after it is looked at.
        const text = `{${flat.map(([k, v, w]) => `${w}"${k}"${w}:${w}${v}${w}`).join(',')}}`;
        const out = { promptTokens: -1, completionTokens: -1 };
        expect(readFlatUsage(Buffer.from(text + after), 0, text.length + after.length, out)).toBe(text.length);
        expect(out).toEqual(reference(text));
        // Any object: either read to its end with JSON.parse's counts, or refused (-1), never a wrong end.
        const any = `{${odd.map(([k, v, w]) => `${w}"${k}"${w}:${w}${v}${w}`).join(',')}}`;
        const got = { promptTokens: -1, completionTokens: -1 };
        const end = readFlatUsage(Buffer.from(any + after), 0, any.length + after.length, got);
        expect([-1, any.length]).toContain(end);
        if (end !== -1) expect(got).toEqual(reference(any));
        // An object cut short by the limit is refused.
        if (text.length > 1) expect(readFlatUsage(Buffer.from(text), 0, text.length - 1, out)).toBe(-1);
      }),
      SETTINGS,
    );
  });
});
