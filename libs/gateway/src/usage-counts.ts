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
