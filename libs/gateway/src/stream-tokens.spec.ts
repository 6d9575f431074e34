import { describe, expect, it } from 'vitest';
import { CALIBRATION_BYTES, CONTENT_FIELD, StreamTokens, TEXT_FIELD, countContent, usageTokens } from './stream-tokens';

/** One vLLM-like chat event. */
const event = (content: string, i: number) =>
  `data: {"id":"chatcmpl-5f0e","object":"chat.completion.chunk","created":1733100000,"model":"mock-llama-3-8b","choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"finish_reason":null}]}\n\n`.replace('5f0e', `5f0e${i % 10}`);
const WORDS = ['Hello', ' world', ',', ' this', ' is', ' a', ' longer', ' answer', ' token', 's'];

describe('countContent', () => {
  it('counts non-empty content fields, also in a Uint8Array that is no Buffer', () => {
    const text = `${event('a', 0)}${event('', 1)}${event('b"c', 2)}data: {"choices":[{"delta":{"reasoning_content":"x"}}]}\n\n`;
    expect(countContent(Buffer.from(text), CONTENT_FIELD)).toBe(2);
    expect(countContent(new Uint8Array(Buffer.from(text)), CONTENT_FIELD)).toBe(2);
    expect(countContent(Buffer.from('data: {"choices":[{"text":"x"}]}\n\n'), TEXT_FIELD)).toBe(1);
    expect(countContent(Buffer.from('data: [DONE]\n\n'), CONTENT_FIELD)).toBe(0);
  });
});

describe('usageTokens', () => {
  it("reads completion_tokens of the final usage event, and nothing from a cut one", () => {
    const usage = 'data: {"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":345,"total_tokens":357}}\n\ndata: [DONE]\n\n';
    expect(usageTokens(Buffer.from(usage))).toBe(345);
    expect(usageTokens(Buffer.from(usage.slice(0, usage.indexOf('345') + 2)))).toBeUndefined();
    expect(usageTokens(Buffer.from('data: [DONE]\n\n'))).toBeUndefined();
  });
});

describe('StreamTokens', () => {
  const run = (chunks: string[], times: number[]) => {
    const tokens = new StreamTokens(CONTENT_FIELD);
    chunks.forEach((c, i) => tokens.chunk(Buffer.from(c), () => times[i]));
    return tokens;
  };

  it('estimates a long stream past the scanned start from its size, within a few per cent', () => {
    const events = Array.from({ length: 2000 }, (_, i) => event(WORDS[i % WORDS.length], i));
    // Batched as the agent sends them under load: 50 events a chunk.
    const chunks: string[] = [];
    for (let i = 0; i < events.length; i += 50) chunks.push(events.slice(i, i + 50).join(''));
    chunks.push('data: [DONE]\n\n');
    expect(chunks.slice(0, 2).join('').length).toBeGreaterThan(CALIBRATION_BYTES);
    const tokens = run(chunks, chunks.map((_, i) => 1000 + i));
    // 2000 tokens from t=1000 ms to t=11000 ms: 1999 / 10 s.
    const rate = tokens.rate(11_000)!;
    expect(rate).toBeGreaterThan(199.9 * 0.97);
    expect(rate).toBeLessThan(199.9 * 1.03);
  });

  it("takes the usage object's count when the stream carries it", () => {
    const chunks = [event('a', 0), event('b', 1), 'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":41,"total_tokens":42}}\n\n', 'data: [DONE]\n\n'];
    const tokens = run(chunks, [0, 0, 0, 0]);
    expect(tokens.rate(2000)).toBe(20);
  });

  it('knows no rate for a stream without content, or one token', () => {
    expect(run(['data: [DONE]\n\n'], [0]).rate(1000)).toBeUndefined();
    expect(run([event('only', 0), 'data: [DONE]\n\n'], [0, 0]).rate(1000)).toBeUndefined();
  });
});
