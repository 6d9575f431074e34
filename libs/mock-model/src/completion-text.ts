// 64 words, so a step coprime with 64 visits every word before repeating.
const WORDS = [
  'lorem', 'ipsum', 'dolor', 'sit', 'amet', 'consectetur', 'adipiscing', 'elit',
  'sed', 'do', 'eiusmod', 'tempor', 'incididunt', 'ut', 'labore', 'et',
  'dolore', 'magna', 'aliqua', 'enim', 'ad', 'minim', 'veniam', 'quis',
  'nostrud', 'exercitation', 'ullamco', 'laboris', 'nisi', 'aliquip', 'ex', 'ea',
  'commodo', 'consequat', 'duis', 'aute', 'irure', 'in', 'reprehenderit', 'voluptate',
  'velit', 'esse', 'cillum', 'fugiat', 'nulla', 'pariatur', 'excepteur', 'sint',
  'occaecat', 'cupidatat', 'non', 'proident', 'sunt', 'culpa', 'qui', 'officia',
  'deserunt', 'mollit', 'anim', 'id', 'est', 'laborum', 'tunnel', 'session',
];
const STEP = 37;

/** Tokens carry their leading space, as a BPE tokenizer's word pieces do. */
const TOKENS = WORDS.map((w) => ` ${w}`);
/** The same tokens already JSON-encoded, so streaming does no escaping per chunk. */
const TOKENS_JSON = TOKENS.map((t) => JSON.stringify(t));

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Starting value for {@link hashMore}. */
export const HASH_SEED = FNV_OFFSET;

/** FNV-1a over UTF-16 code units: cheap, stable across runs and processes. */
export function hashMore(hash: number, text: string): number {
  let h = hash;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  // A separator, so ["ab","c"] and ["a","bc"] hash differently.
  h ^= 0x1f;
  return Math.imul(h, FNV_PRIME) >>> 0;
}

function tokenIndex(seed: number, i: number): number {
  return (seed + i * STEP) & 63;
}

/** Token `i` of the answer seeded by `seed`. */
export function tokenAt(seed: number, i: number): string {
  return TOKENS[tokenIndex(seed, i)];
}

/** {@link tokenAt} as a JSON string literal. */
export function tokenJsonAt(seed: number, i: number): string {
  return TOKENS_JSON[tokenIndex(seed, i)];
}

/**
 * The whole answer: the concatenation of the streamed tokens, so a plain and a streamed answer
 * to the same prompt carry the same text, and a longer answer extends a shorter one.
 */
export function completionText(seed: number, tokens: number): string {
  let text = '';
  for (let i = 0; i < tokens; i++) text += TOKENS[tokenIndex(seed, i)];
  return text;
}

/** Whitespace-separated words: a rough but deterministic stand-in for a tokenizer's count. */
export function countWords(text: string): number {
  let words = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const space = c === 32 || (c >= 9 && c <= 13);
    if (!space && !inWord) words += 1;
    inWord = !space;
  }
  return words;
}
