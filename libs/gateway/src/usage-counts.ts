/** Token counts read from one answer's `usage` object. */
export interface TokenCounts {
  promptTokens: number;
  completionTokens: number;
}

/** A usage object larger than this is not one (OpenAI's, with its details, is a few hundred bytes). */
export const MAX_USAGE_BYTES = 4096;

/**
 * The counts of a `usage` object's JSON text (bounded by {@link MAX_USAGE_BYTES}), or undefined
 * when it is not an object. A count that is missing, negative or not a whole number reads as 0:
 * embeddings have no completion_tokens, and a server's odd value must not poison the sums.
 */
export function countsOf(text: string): TokenCounts | undefined {
  if (text.length > MAX_USAGE_BYTES || text.charCodeAt(0) !== 0x7b) return undefined;
  const flat = flatCountsOf(text);
  if (flat) return flat;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const u = parsed as Record<string, unknown>;
  return { promptTokens: whole(u.prompt_tokens), completionTokens: whole(u.completion_tokens) };
}

function whole(v: unknown): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0;
}

const PROMPT = 'prompt_tokens';
const COMPLETION = 'completion_tokens';

/**
 * The counts of a flat usage object (members whose values are whole numbers or literals, keys
 * without escapes: vLLM's, the mock's), read in place; undefined for anything else, which
 * JSON.parse then reads. JSON.parse and its object cost more than the rest of counting a small
 * answer's usage did (c=64 profiles). Same result as JSON.parse + whole() wherever it answers: a
 * later duplicate key wins, and a number it cannot read exactly (fraction, exponent, sign, 16
 * digits or more) sends the text to JSON.parse.
 */
function flatCountsOf(t: string): TokenCounts | undefined {
  const n = t.length;
  let prompt = 0;
  let completion = 0;
  let i = skipWs(t, 1);
  if (t.charCodeAt(i) === 0x7d) return i === n - 1 ? { promptTokens: 0, completionTokens: 0 } : undefined;
  for (;;) {
    if (t.charCodeAt(i) !== 0x22) return undefined;
    const keyStart = i + 1;
    let keyEnd = keyStart;
    for (let k = t.charCodeAt(keyEnd); k !== 0x22; k = t.charCodeAt(++keyEnd)) if (k === 0x5c || keyEnd >= n) return undefined;
    i = skipWs(t, keyEnd + 1);
    if (t.charCodeAt(i) !== 0x3a) return undefined;
    i = skipWs(t, i + 1);
    const c = t.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      const start = i;
      let v = 0;
      for (let d = c; d >= 0x30 && d <= 0x39; d = t.charCodeAt(++i)) v = v * 10 + (d - 0x30);
      const next = t.charCodeAt(i);
      if (i - start > 15 || next === 0x2e || next === 0x65 || next === 0x45 || (c === 0x30 && i - start > 1)) return undefined;
      const len = keyEnd - keyStart;
      if (len === PROMPT.length && t.startsWith(PROMPT, keyStart)) prompt = v;
      else if (len === COMPLETION.length && t.startsWith(COMPLETION, keyStart)) completion = v;
    } else {
      const word = c === 0x6e ? 'null' : c === 0x74 ? 'true' : c === 0x66 ? 'false' : undefined;
      if (!word || !t.startsWith(word, i)) return undefined;
      const len = keyEnd - keyStart;
      // A literal where a count was: JSON.parse + whole() reads it as 0.
      if (len === PROMPT.length && t.startsWith(PROMPT, keyStart)) prompt = 0;
      else if (len === COMPLETION.length && t.startsWith(COMPLETION, keyStart)) completion = 0;
      i += word.length;
    }
    i = skipWs(t, i);
    const sep = t.charCodeAt(i);
    if (sep === 0x7d) return i === n - 1 ? { promptTokens: prompt, completionTokens: completion } : undefined;
    if (sep !== 0x2c) return undefined;
    i = skipWs(t, i + 1);
  }
}

function skipWs(t: string, i: number): number {
  for (let c = t.charCodeAt(i); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = t.charCodeAt(++i));
  return i;
}
