import { describe, expect, it } from 'vitest';
import { completionText, countWords, HASH_SEED, hashMore, tokenAt } from './completion-text';
import { embeddingVector } from './embeddings';

describe('completion text', () => {
  it('is the concatenation of its tokens, each one word with a leading space', () => {
    const seed = hashMore(HASH_SEED, 'hello');
    const tokens = Array.from({ length: 40 }, (_, i) => tokenAt(seed, i));
    for (const t of tokens) expect(t).toMatch(/^ [a-z]+$/);
    expect(completionText(seed, 40)).toBe(tokens.join(''));
    expect(completionText(seed, 40).startsWith(completionText(seed, 7))).toBe(true);
  });

  it('depends on the prompt and nothing else', () => {
    const a = hashMore(HASH_SEED, 'first prompt');
    const b = hashMore(HASH_SEED, 'second prompt');
    expect(hashMore(HASH_SEED, 'first prompt')).toBe(a);
    expect(completionText(a, 16)).not.toBe(completionText(b, 16));
    // Part boundaries count: ["ab","c"] is not ["a","bc"].
    expect(hashMore(hashMore(HASH_SEED, 'ab'), 'c')).not.toBe(hashMore(hashMore(HASH_SEED, 'a'), 'bc'));
  });

  it('counts words separated by any whitespace', () => {
    expect(countWords('')).toBe(0);
    expect(countWords('  one\ttwo\n three  ')).toBe(3);
  });
});

describe('embedding vectors', () => {
  it('are deterministic unit vectors of the asked length', () => {
    const v = embeddingVector(42, 16);
    expect(v).toHaveLength(16);
    expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    expect(Array.from(embeddingVector(42, 16))).toEqual(Array.from(v));
    expect(Array.from(embeddingVector(43, 16))).not.toEqual(Array.from(v));
  });
});
