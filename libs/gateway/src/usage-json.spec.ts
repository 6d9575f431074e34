import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunksAt, fuzzRuns, fuzzSeed } from '@st/testing';
import { JsonUsageScanner, wholeAnswerUsage } from './usage-json';

const SETTINGS = { seed: fuzzSeed(), numRuns: fuzzRuns(300) };

/** A usage object's text as JSON.parse reads it, whole counts or 0; none when it is not an object or over 4096 bytes. */
function reference(usage: string): { promptTokens: number; completionTokens: number } | undefined {
  let u: unknown;
  try {
    u = JSON.parse(usage);
  } catch {
    return undefined;
  }
  if (typeof u !== 'object' || u === null || Array.isArray(u) || usage.length > 4096) return undefined;
  const whole = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);
  const r = u as Record<string, unknown>;
  return { promptTokens: whole(r.prompt_tokens), completionTokens: whole(r.completion_tokens) };
}

function scan(bytes: Buffer, cuts: number[]): JsonUsageScanner {
  const scanner = new JsonUsageScanner();
  for (const chunk of chunksAt(bytes, cuts)) scanner.push(chunk);
  return scanner;
}

describe('JsonUsageScanner', () => {
  it('finds the top-level usage of any answer, wherever the chunks split', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string().filter((k) => k !== 'usage'), fc.jsonValue({ maxDepth: 3 })),
        fc.nat(1_000_000),
        fc.nat(1_000_000),
        fc.nat(),
        fc.array(fc.nat(), { maxLength: 20 }),
        (other, prompt, completion, position, cuts) => {
          const entries: [string, unknown][] = Object.entries(other);
          const usage: [string, unknown] = ['usage', { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }];
          entries.splice(position % (entries.length + 1), 0, usage);
          const text = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
          expect(scan(Buffer.from(text), cuts).usage).toEqual({ promptTokens: prompt, completionTokens: completion });
        },
      ),
      SETTINGS,
    );
  });

  it('reads a whole answer from its end exactly as it walks it, usage top-level, nested, absent or odd', () => {
    const usageValue = fc.oneof(
      fc.record({ prompt_tokens: fc.nat(), completion_tokens: fc.nat() }),
      fc.jsonValue({ maxDepth: 2 }),
      fc.constant({ prompt_tokens: 1, x: 'a'.repeat(5000) }),
    );
    fc.assert(
      fc.property(
        fc.dictionary(fc.string().filter((k) => k !== 'usage'), fc.jsonValue({ maxDepth: 3 })),
        fc.option(usageValue),
        fc.nat(),
        fc.constantFrom('top', 'nested', 'array'),
        fc.constantFrom(0, 2),
        (other, usage, position, where, indent) => {
          const entries: [string, unknown][] = Object.entries(other);
          if (usage !== null) entries.splice(position % (entries.length + 1), 0, ['usage', usage]);
          const obj = Object.fromEntries(entries);
          const answer = where === 'top' ? obj : where === 'nested' ? { data: obj, model: 'm' } : [obj];
          const bytes = Buffer.from(`${JSON.stringify(answer, null, indent)}\n`);
          expect(wholeAnswerUsage(bytes)).toEqual(scan(bytes, []).usage);
        },
      ),
      SETTINGS,
    );
  });

  it('reads a flat usage object of any member shape from the end as the walk reads it, up to the size limit', () => {
    // readFlatUsage finds the object's end as it reads it: odd members (literals, duplicates,
    // numbers it leaves to JSON.parse, escaped keys, nesting) and sizes on either side of
    // MAX_USAGE_BYTES must come out as JSON.parse reads them.
    const key = fc.constantFrom('prompt_tokens', 'completion_tokens', 'total_tokens', 'prompt\\u005ftokens', 'x');
    const value = fc.oneof(fc.nat().map(String), fc.constantFrom('0', '007', '1.5', '1e3', '-4', '12345678901234567', 'null', 'true', 'false', '"9"', '{"cached_tokens":3}', '[1]'));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(key, value), { maxLength: 6 }),
        fc.constantFrom(0, 1, 4000, 4060, 4100),
        fc.boolean(),
        fc.constantFrom('', ' ', '\n'),
        (members, pad, after, tail) => {
          const usage = `{${members.map(([k, v]) => `"${k}":${v}`).join(',')}${' '.repeat(pad)}}`;
          const bytes = Buffer.from(`{"id":"x","choices":[{"text":"usage"}],"usage":${usage}${after ? ',"model":"m"' : ''}}${tail}`);
          expect(wholeAnswerUsage(bytes)).toEqual(reference(usage));
        },
      ),
      SETTINGS,
    );
    // Exactly at the limit, and one byte over it.
    const sized = (bytes: number) => {
      const head = '{"prompt_tokens":5';
      return Buffer.from(`{"usage":${head}${' '.repeat(bytes - head.length - 1)}}}`);
    };
    expect(wholeAnswerUsage(sized(4096))).toEqual({ promptTokens: 5, completionTokens: 0 });
    expect(wholeAnswerUsage(sized(4097))).toBeUndefined();
    expect(scan(sized(4096), []).usage).toEqual({ promptTokens: 5, completionTokens: 0 });
    expect(scan(sized(4097), []).usage).toBeUndefined();
  });

  it('counts the first of two top-level usage objects, whole or in parts', () => {
    const bytes = Buffer.from('{"usage":{"prompt_tokens":1,"completion_tokens":2},"usage":{"prompt_tokens":1000,"completion_tokens":1000}}');
    expect(wholeAnswerUsage(bytes)).toEqual({ promptTokens: 1, completionTokens: 2 });
    expect(scan(bytes, [40]).usage).toEqual({ promptTokens: 1, completionTokens: 2 });
  });

  it('ignores a "usage" that is not a top-level key', () => {
    const text = JSON.stringify({ choices: [{ usage: { prompt_tokens: 9 }, text: '"usage":{"prompt_tokens":8}' }], data: { usage: 1 } });
    expect(scan(Buffer.from(text), [3, 17, 30]).usage).toBeUndefined();
  });

  it('reads an embeddings answer (no completion tokens) without holding its vectors', () => {
    const vectors = Array.from({ length: 200 }, () => ({ object: 'embedding', embedding: Array.from({ length: 64 }, (_, i) => i / 7), index: 0 }));
    const text = JSON.stringify({ object: 'list', data: vectors, model: 'e', usage: { prompt_tokens: 12, total_tokens: 12 } });
    expect(scan(Buffer.from(text), Array.from({ length: 50 }, (_, i) => i * 997)).usage).toEqual({ promptTokens: 12, completionTokens: 0 });
  });

  it('gives up on an oversized or malformed usage and on what is not an object', () => {
    expect(scan(Buffer.from(`{"usage":{"prompt_tokens":1,"x":"${'a'.repeat(5000)}"}}`), [100]).usage).toBeUndefined();
    expect(scan(Buffer.from('[{"usage":{"prompt_tokens":1}}]'), []).usage).toBeUndefined();
    expect(scan(Buffer.from('{"usage":"many"}'), []).usage).toBeUndefined();
  });
});
