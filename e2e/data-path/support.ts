import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import { expect } from 'vitest';

export const MODEL = 'mock-llama-3-8b';

/** The official client, without retries: a failure must show, not be retried away. */
export function openai(baseURL: string, apiKey: string): OpenAI {
  return new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });
}

export function userMessage(content: string): ChatCompletionCreateParamsStreaming['messages'] {
  return [{ role: 'user', content }];
}

/** Reads a whole streamed chat answer: its chunks and the concatenated content. */
export async function readChatStream(stream: AsyncIterable<ChatCompletionChunk>): Promise<{ chunks: ChatCompletionChunk[]; content: string }> {
  const chunks: ChatCompletionChunk[] = [];
  let content = '';
  for await (const chunk of stream) {
    chunks.push(chunk);
    content += chunk.choices[0]?.delta?.content ?? '';
  }
  return { chunks, content };
}

/** The OpenAI error envelope, exactly: `{"error":{"message","type","param","code"}}`. */
export interface OpenAIErrorShape {
  message: string;
  type: string;
  param: string | null;
  code: string | number | null;
}

/** Checks status and body shape of an error answer and returns the `error` object. */
export async function expectOpenAIError(res: Response, status: number): Promise<OpenAIErrorShape> {
  const text = await res.text();
  expect(res.status, `status of ${text}`).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = JSON.parse(text) as { error: OpenAIErrorShape };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(typeof body.error.type).toBe('string');
  expect(body.error.param === null || typeof body.error.param === 'string').toBe(true);
  expect(body.error.code === null || ['string', 'number'].includes(typeof body.error.code)).toBe(true);
  return body.error;
}

/** A JSON POST with a bearer key (raw fetch, for status and header checks the SDK would hide). */
export function postJson(url: string, apiKey: string | undefined, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` }),
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
