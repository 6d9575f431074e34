import { request } from 'node:http';
import type OpenAI from 'openai';
import { APIUserAbortError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, cleanupAll, startStack, waitUntil } from '@st/testing';
import { MODEL, openai, readChatStream, userMessage } from './support';

// One stack for the file: the official OpenAI client talks to the tunnel and, for the expected
// answers, straight to the same mock model server. The mock is deterministic per prompt.
let stack: Stack;
let tunnel: OpenAI;
let direct: OpenAI;

beforeAll(async () => {
  stack = await startStack();
  tunnel = openai(stack.baseURL, stack.apiKey);
  direct = openai(`${stack.mockUrl}/v1`, 'not-needed');
});

afterAll(cleanupAll);

describe('the OpenAI client through a tunnel', () => {
  it('gets the same plain chat answer, with usage, as straight from the model server', async () => {
    const params = { model: MODEL, messages: userMessage('What is a session tunnel?'), max_tokens: 12 };
    const [viaTunnel, viaModel] = await Promise.all([tunnel.chat.completions.create(params), direct.chat.completions.create(params)]);
    expect(viaTunnel.choices[0].message.content).toBe(viaModel.choices[0].message.content);
    expect(viaTunnel.choices[0].message.content).toMatch(/^( \w+){12}$/);
    expect(viaTunnel.choices[0].finish_reason).toBe('length');
    expect(viaTunnel.usage).toEqual(viaModel.usage);
    expect(viaTunnel.usage?.completion_tokens).toBe(12);
    expect(viaTunnel.model).toBe(MODEL);
  });

  it('gets the same streamed chat answer, with the usage chunk last and without choices', async () => {
    const params = {
      model: MODEL,
      messages: userMessage('Stream me something'),
      max_tokens: 20,
      stream: true as const,
      stream_options: { include_usage: true },
    };
    const viaTunnel = await readChatStream(await tunnel.chat.completions.create(params));
    const viaModel = await readChatStream(await direct.chat.completions.create(params));
    expect(viaTunnel.content).toBe(viaModel.content);
    expect(viaTunnel.content).toMatch(/^( \w+){20}$/);
    expect(viaTunnel.chunks.length).toBe(viaModel.chunks.length);
    const last = viaTunnel.chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(viaModel.chunks.at(-1)!.usage);
    expect(last.usage?.completion_tokens).toBe(20);
    // Only the last chunk carries usage.
    expect(viaTunnel.chunks.slice(0, -1).every((c) => c.usage == null)).toBe(true);
  });

  it('gets the same text completion', async () => {
    const params = { model: MODEL, prompt: 'Once upon a time', max_tokens: 9 };
    const [viaTunnel, viaModel] = await Promise.all([tunnel.completions.create(params), direct.completions.create(params)]);
    expect(viaTunnel.choices[0].text).toBe(viaModel.choices[0].text);
    expect(viaTunnel.choices[0].text).toMatch(/^( \w+){9}$/);
    expect(viaTunnel.usage).toEqual(viaModel.usage);
  });

  it('gets the same embeddings', async () => {
    const params = { model: MODEL, input: ['first input', 'second input'] };
    const [viaTunnel, viaModel] = await Promise.all([tunnel.embeddings.create(params), direct.embeddings.create(params)]);
    expect(viaTunnel.data).toHaveLength(2);
    expect(viaTunnel.data.map((d) => d.embedding)).toEqual(viaModel.data.map((d) => d.embedding));
    expect(viaTunnel.data[0].embedding).not.toEqual(viaTunnel.data[1].embedding);
    expect(viaTunnel.usage).toEqual(viaModel.usage);
  });

  it('gets the same answer to a prompt of several megabytes', async () => {
    // Far over one exchange window: the body crosses the tunnel in many flow-controlled chunks,
    // and the mock's answer depends on every byte of it, in order.
    const words = Array.from({ length: 500_000 }, (_, i) => `w${i}`).join(' ');
    const params = { model: MODEL, messages: userMessage(words), max_tokens: 6 };
    const [viaTunnel, viaModel] = await Promise.all([tunnel.chat.completions.create(params), direct.chat.completions.create(params)]);
    expect(viaTunnel.choices[0].message.content).toBe(viaModel.choices[0].message.content);
    expect(viaTunnel.usage).toEqual(viaModel.usage);
  });

  it('lists the same models', async () => {
    const viaTunnel = await tunnel.models.list();
    const viaModel = await direct.models.list();
    expect(viaTunnel.data).toEqual(viaModel.data);
    expect(viaTunnel.data.map((m) => m.id)).toEqual([MODEL]);
  });
});

describe('streaming', () => {
  it('delivers the first tokens while the model is still generating', async () => {
    // 24 tokens 50 ms apart: the answer takes ~1.15 s; a buffering hop would deliver it all at the end.
    const started = performance.now();
    const stream = await tunnel.chat.completions.create(
      { model: MODEL, messages: userMessage('slowly, please'), max_tokens: 24, stream: true },
      { headers: { 'x-mock-token-delay-ms': '50' } },
    );
    const arrivals: number[] = [];
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) arrivals.push(performance.now() - started);
    }
    const total = performance.now() - started;
    expect(arrivals).toHaveLength(24);
    expect(total).toBeGreaterThanOrEqual(1000);
    expect(arrivals[0]).toBeLessThan(total * 0.4);
    // Tokens trickle in: half of them have arrived well before the end.
    expect(arrivals[12]).toBeLessThan(total * 0.8);
  });

  it('serves 200 concurrent streams over one agent, each with its own answer', async () => {
    const n = 200;
    // Distinct prompts and lengths, so that crossed or mixed streams cannot look right.
    const params = (i: number) => ({ model: MODEL, messages: userMessage(`concurrent prompt number ${i}`), max_tokens: 8 + (i % 13) });
    const expected = await Promise.all(
      Array.from({ length: n }, async (_, i) => (await direct.chat.completions.create(params(i))).choices[0].message.content),
    );
    const results = await Promise.all(
      Array.from({ length: n }, async (_, i) =>
        readChatStream(await tunnel.chat.completions.create({ ...params(i), stream: true }, { headers: { 'x-mock-token-delay-ms': '5' } })),
      ),
    );
    for (let i = 0; i < n; i++) {
      expect(results[i].content, `stream ${i}`).toBe(expected[i]);
      // Every chunk of a stream belongs to that stream's completion.
      expect(new Set(results[i].chunks.map((c) => c.id)).size, `stream ${i} ids`).toBe(1);
    }
    expect(new Set(results.map((r) => r.chunks[0].id)).size).toBe(n);
    expect(new Set(expected).size).toBeGreaterThan(100);
  });
});

describe('cancellation', () => {
  it('stops the model within a second when the client aborts mid-stream', async () => {
    const before = await stack.mock.stats();
    const controller = new AbortController();
    const stream = await tunnel.chat.completions.create(
      { model: MODEL, messages: userMessage('a long answer to abandon'), max_tokens: 400, stream: true },
      { headers: { 'x-mock-token-delay-ms': '20' }, signal: controller.signal },
    );
    let received = 0;
    // openai v6 ends the iteration quietly on its own abort (or throws APIUserAbortError, as v4 did).
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta?.content && ++received === 3) controller.abort();
      }
    } catch (err) {
      expect(err).toBeInstanceOf(APIUserAbortError);
    }
    expect(received).toBeLessThan(400);
    const abortedAt = performance.now();
    await waitUntil('the mock to count the abort', async () => (await stack.mock.stats()).aborted === before.aborted + 1, 5_000);
    expect(performance.now() - abortedAt).toBeLessThan(5_000);
    const after = await stack.mock.stats();
    expect(after.completed).toBe(before.completed);
    expect(after.active).toBe(0);
  });

  it('stops the model when the client socket is destroyed', async () => {
    const before = await stack.mock.stats();
    const req = request(`${stack.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json', 'x-mock-token-delay-ms': '20' },
    });
    req.end(JSON.stringify({ model: MODEL, messages: userMessage('cut me off'), max_tokens: 400, stream: true }));
    await new Promise<void>((resolve, reject) => {
      req.once('error', reject);
      req.once('response', (res) => {
        expect(res.statusCode).toBe(200);
        res.once('data', () => resolve());
      });
    });
    req.destroy();
    await waitUntil('the mock to count the abort', async () => (await stack.mock.stats()).aborted === before.aborted + 1, 1_000);
    expect((await stack.mock.stats()).active).toBe(0);
  });
});
