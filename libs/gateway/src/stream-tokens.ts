/**
 * Tokens of a streamed (SSE) chat or completions answer, counted cheaply enough for every stream.
 *
 * Scanning every chunk for content fields cost 28% of st-server's busy time in the bench's stream
 * phase (one Buffer.indexOf call per token: the calls, not the bytes, are the price), so only the
 * first {@link CALIBRATION_BYTES} of a stream are scanned exactly; the rest is counted by its
 * size at that stream's own bytes per token (its events differ only in their few content
 * characters). When the stream carries OpenAI's final `usage` object (`stream_options.
 * include_usage`, which the gateway may come to ask for), its `completion_tokens` is taken
 * instead: it is the model's own count.
 */
export class StreamTokens {
  private bytes = 0;
  private scanned = 0;
  private counted = 0;
  private firstAt = 0;
  /** The last two chunks (references, no copies): the usage event is at the very end. */
  private last: Uint8Array | undefined;
  private previous: Uint8Array | undefined;

  /** `pattern` is CONTENT_FIELD (chat) or TEXT_FIELD (completions). */
  constructor(private readonly pattern: Buffer) {}

  /** A chunk of the answer body; `now` is read only until the first token is seen. */
  chunk(chunk: Uint8Array, now: () => number): void {
    if (chunk.length === 0) return;
    if (this.scanned < CALIBRATION_BYTES) {
      const part = chunk.length <= CALIBRATION_BYTES - this.scanned ? chunk : chunk.subarray(0, CALIBRATION_BYTES - this.scanned);
      const n = countContent(part, this.pattern);
      this.scanned += part.length;
      if (n > 0 && this.counted === 0) this.firstAt = now();
      this.counted += n;
    }
    this.bytes += chunk.length;
    this.previous = this.last;
    this.last = chunk;
  }

  /** Tokens per second from the first token to `endAt` (the clean end), or undefined when unknown. */
  rate(endAt: number): number | undefined {
    if (this.counted === 0) return undefined;
    const tokens = usageTokens(this.last) ?? usageTokens(this.previous) ?? this.counted + ((this.bytes - this.scanned) * this.counted) / this.scanned;
    const seconds = (endAt - this.firstAt) / 1000;
    // (n - 1) intervals between n tokens: the generation rate, without the time to the first.
    return tokens >= 2 && seconds > 0 ? (tokens - 1) / seconds : undefined;
  }
}

/** Bytes of a stream scanned exactly: some 25 events of vLLM's, one Buffer.indexOf call each. */
export const CALIBRATION_BYTES = 4096;

export const CONTENT_FIELD = Buffer.from('"content":"');
export const TEXT_FIELD = Buffer.from('"text":"');
const COMPLETION_TOKENS = Buffer.from('"completion_tokens":');
const QUOTE = 34;

/**
 * Non-empty `"content":"` (chat) or `"text":"` (completions) fields in a chunk of SSE: about one
 * per token. Such a sequence cannot occur inside a JSON string (its quotes would be escaped), and
 * `"reasoning_content":"` does not match.
 */
export function countContent(chunk: Uint8Array, pattern: Buffer): number {
  const buf = asBuffer(chunk);
  let n = 0;
  let at = buf.indexOf(pattern);
  while (at !== -1) {
    const next = at + pattern.length;
    if (next < buf.length && buf[next] !== QUOTE) n++;
    at = buf.indexOf(pattern, next);
  }
  return n;
}

/** `completion_tokens` of a usage object in the chunk, if one is there whole. */
export function usageTokens(chunk: Uint8Array | undefined): number | undefined {
  if (!chunk) return undefined;
  const buf = asBuffer(chunk);
  const at = buf.lastIndexOf(COMPLETION_TOKENS);
  if (at === -1) return undefined;
  let i = at + COMPLETION_TOKENS.length;
  while (buf[i] === 32) i++;
  let value = 0;
  const start = i;
  for (; i < buf.length && buf[i] >= 48 && buf[i] <= 57; i++) value = value * 10 + (buf[i] - 48);
  return i > start && i < buf.length ? value : undefined;
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}
