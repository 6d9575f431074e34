import OpenAI, { APIError } from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { afterEach, describe, expect, it } from 'vitest';
import { MockModelServer, type MockModelOptions } from './index';

const MODEL = 'mock-llama-3-8b';
const MESSAGES = [
  { role: 'system' as const, content: 'You are a test.' },
  { role: 'user' as const, content: 'Say something deterministic please' },
];

const servers: MockModelServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(options: MockModelOptions = {}) {
  const server = new MockModelServer(options);
  servers.push(server);
  const { url, port } = await server.listen(0);
  // No retries: an injected 429/500 must surface, not be retried away.
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
  return { server, url, port, client };
}

function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function waitFor(check: () => boolean, withinMs: number): Promise<number> {
  const started = performance.now();
  while (!check()) {
    if (performance.now() - started > withinMs) throw new Error(`condition not met within ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - started;
}

describe('MockModelServer', () => {
  it('lists its models like vLLM', async () => {
    const { client, url } = await start({ models: ['model-a', 'model-b'] });
    const page = await client.models.list();
    expect(page.data.map((m) => m.id)).toEqual(['model-a', 'model-b']);
    const raw = (await (await fetch(`${url}/v1/models`)).json()) as { object: string; data: Record<string, unknown>[] };
    expect(raw.object).toBe('list');
    expect(raw.data[0]).toMatchObject({ id: 'model-a', object: 'model', owned_by: 'mock', root: 'model-a', max_model_len: 8192 });
    expect(typeof raw.data[0].created).toBe('number');
  });

  it('answers a plain chat completion deterministically, with usage', async () => {
    const { client } = await start();
    const a = await client.chat.completions.create({ model: MODEL, messages: MESSAGES });
    expect(a.id).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    expect(a.object).toBe('chat.completion');
    expect(a.model).toBe(MODEL);
    expect(Math.abs(a.created - Date.now() / 1000)).toBeLessThan(5);
    const choice = a.choices[0];
    expect(choice.message.role).toBe('assistant');
    expect(choice.finish_reason).toBe('stop');
    expect(choice.message.content).toMatch(/^( [a-z]+){16}$/);
    expect(a.usage).toEqual({ prompt_tokens: 8, completion_tokens: 16, total_tokens: 24 });

    const again = await client.chat.completions.create({ model: MODEL, messages: MESSAGES });
    expect(again.choices[0].message.content).toBe(choice.message.content);
    expect(again.id).not.toBe(a.id);

    const capped = await client.chat.completions.create({ model: MODEL, messages: MESSAGES, max_tokens: 5 });
    expect(capped.choices[0].finish_reason).toBe('length');
    expect(capped.usage?.completion_tokens).toBe(5);
    expect(choice.message.content!.startsWith(capped.choices[0].message.content!)).toBe(true);

    const other = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'other' }] });
    expect(other.choices[0].message.content).not.toBe(choice.message.content);
  });

  it('streams a chat completion whose text equals the plain answer, usage chunk last', async () => {
    const { client, server } = await start();
    const plain = await client.chat.completions.create({ model: MODEL, messages: MESSAGES, max_tokens: 12 });
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: MESSAGES,
      max_tokens: 12,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);

    expect(chunks).toHaveLength(1 + 12 + 1 + 1);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    for (const c of chunks) expect(c.object).toBe('chat.completion.chunk');
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    const body = chunks.slice(0, -1);
    // vLLM's events (pydantic's exclude_unset): no usage member but in the usage event.
    for (const c of body) expect('usage' in c).toBe(false);
    const content = body.map((c) => c.choices[0].delta.content ?? '').join('');
    expect(content).toBe(plain.choices[0].message.content);

    const finish = chunks.at(-2)!;
    expect(finish.choices[0]).toMatchObject({ delta: {}, finish_reason: 'length' });
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(plain.usage);
    expect(server.stats()).toMatchObject({ completed: 2, aborted: 0, active: 0 });
  });

  it('sends SSE headers and ends with [DONE]; no usage fields unless asked', async () => {
    const { url } = await start();
    const res = await postJson(`${url}/v1/chat/completions`, { messages: MESSAGES, max_tokens: 2, stream: true });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const text = await res.text();
    const events = text.split('\n\n').filter(Boolean);
    expect(events).toHaveLength(1 + 2 + 1 + 1);
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(text).not.toContain('"usage"');
  });

  it('sends "usage":null in every event but the usage one, as OpenAI does, with x-mock-usage-null', async () => {
    const { url } = await start();
    const body = { messages: MESSAGES, max_tokens: 2, stream: true, stream_options: { include_usage: true } };
    for (const route of ['chat/completions', 'completions']) {
      const request = route === 'chat/completions' ? body : { prompt: 'a b c', ...body, messages: undefined };
      const res = await postJson(`${url}/v1/${route}`, request, { 'x-mock-usage-null': '1' });
      const events = (await res.text()).split('\n\n').filter(Boolean).slice(0, -1).map((e) => JSON.parse(e.slice('data: '.length)));
      expect(events.slice(0, -1).every((e) => e.usage === null)).toBe(true);
      expect(events.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: 2 } });
    }
  });

  it('answers text completions, plain and streamed', async () => {
    const { client } = await start({ maxTokens: 6 });
    const plain = await client.completions.create({ model: MODEL, prompt: 'Once upon a time' });
    expect(plain.id).toMatch(/^cmpl-/);
    expect(plain.object).toBe('text_completion');
    expect(plain.choices[0].finish_reason).toBe('stop');
    expect(plain.choices[0].text).toMatch(/^( [a-z]+){6}$/);
    expect(plain.usage).toEqual({ prompt_tokens: 4, completion_tokens: 6, total_tokens: 10 });

    const stream = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', stream: true });
    const texts: string[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('text_completion');
      texts.push(chunk.choices[0].text);
      finish = chunk.choices[0].finish_reason ?? finish;
    }
    expect(texts).toHaveLength(7);
    expect(texts.join('')).toBe(plain.choices[0].text);
    expect(finish).toBe('stop');
  });

  it('returns deterministic unit embeddings, in float and base64 (the SDK default)', async () => {
    const { client, url } = await start();
    const viaSdk = await client.embeddings.create({ model: MODEL, input: ['alpha beta', 'gamma'] });
    expect(viaSdk.data.map((d) => d.index)).toEqual([0, 1]);
    expect(viaSdk.usage).toMatchObject({ prompt_tokens: 3, total_tokens: 3 });
    const [a, b] = viaSdk.data.map((d) => d.embedding);
    expect(a).toHaveLength(8);
    expect(Math.hypot(...a)).toBeCloseTo(1, 5);
    expect(a).not.toEqual(b);

    const raw = (await (await postJson(`${url}/v1/embeddings`, { input: 'alpha beta', encoding_format: 'float' })).json()) as {
      object: string;
      model: string;
      data: { object: string; index: number; embedding: number[] }[];
    };
    expect(raw).toMatchObject({ object: 'list', model: MODEL });
    expect(raw.data).toEqual([{ object: 'embedding', index: 0, embedding: a }]);
  });

  it('answers malformed JSON and missing fields with 400 in OpenAI shape', async () => {
    const { url } = await start();
    const res = await postJson(`${url}/v1/chat/completions`, '{"messages": [');
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: Record<string, unknown> };
    expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 400 });
    expect(body.error.message).toMatch(/JSON/);

    for (const [path, param] of [
      ['/v1/chat/completions', 'messages'],
      ['/v1/completions', 'prompt'],
      ['/v1/embeddings', 'input'],
    ]) {
      const missing = await postJson(url + path, { model: MODEL });
      expect(missing.status).toBe(400);
      expect(((await missing.json()) as { error: { param: string } }).error.param).toBe(param);
    }
  });

  it('answers an unknown model with 404, an unknown route with 404, an oversized body with 413', async () => {
    const { client, url } = await start();
    const err = await client.chat.completions.create({ model: 'gpt-nope', messages: MESSAGES }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as APIError).status).toBe(404);
    expect((err as APIError).message).toContain('The model `gpt-nope` does not exist.');

    const route = await fetch(`${url}/v1/nothing`);
    expect(route.status).toBe(404);
    expect(((await route.json()) as { error: { type: string } }).error.type).toBe('not_found_error');

    const big = await postJson(`${url}/v1/chat/completions`, `{"x":"${'a'.repeat(10 * 1024 * 1024)}"}`);
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { message: string } }).error.message).toMatch(/larger than/);
  });

  it('injects 500, 429 and TGI errors from the x-mock-error header', async () => {
    const { client, url } = await start();
    const call = (fault: string) =>
      client.chat.completions
        .create({ model: MODEL, messages: MESSAGES }, { headers: { 'x-mock-error': fault } })
        .catch((e: unknown) => e);
    const e500 = await call('500');
    expect(e500).toBeInstanceOf(OpenAI.InternalServerError);
    expect((e500 as APIError).status).toBe(500);
    const e429 = await call('429');
    expect(e429).toBeInstanceOf(OpenAI.RateLimitError);
    expect((e429 as APIError).status).toBe(429);
    expect((e429 as APIError).type).toBe('rate_limit_error');

    const tgi = await postJson(`${url}/v1/chat/completions`, { messages: MESSAGES }, { 'x-mock-error': 'tgi' });
    expect(tgi.status).toBe(422);
    expect(await tgi.json()).toEqual({ error: 'Input validation error', error_type: 'validation' });

    await expect(postJson(`${url}/v1/chat/completions`, { messages: MESSAGES }, { 'x-mock-error': 'reset' })).rejects.toThrow(
      /fetch failed/,
    );
    const typo = await postJson(`${url}/v1/chat/completions`, { messages: MESSAGES }, { 'x-mock-error': 'oops' });
    expect(typo.status).toBe(400);
  });

  it('refuses stream_options like an older server when x-mock-refuse-stream-options is set, and serves without them', async () => {
    const { url } = await start();
    const headers = { 'x-mock-refuse-stream-options': '1' };
    const body = { messages: MESSAGES, stream: true, stream_options: { include_usage: true } };
    const refused = await postJson(`${url}/v1/chat/completions`, body, headers);
    expect(refused.status).toBe(400);
    const error = ((await refused.json()) as { error: { message: string; param: string } }).error;
    expect(error.param).toBe('stream_options');
    expect(error.message).toContain('stream_options');
    const served = await postJson(`${url}/v1/chat/completions`, { messages: MESSAGES, stream: true }, headers);
    expect(served.status).toBe(200);
    expect(await served.text()).toContain('data: [DONE]');
  });

  it('midstream: three tokens, then the connection dies and the stream iteration throws', async () => {
    const { client, server } = await start();
    const stream = await client.chat.completions.create(
      { model: MODEL, messages: MESSAGES, max_tokens: 50, stream: true },
      { headers: { 'x-mock-error': 'midstream' } },
    );
    const contents: string[] = [];
    const iterate = async () => {
      for await (const chunk of stream) {
        const c = chunk.choices[0]?.delta.content;
        if (c) contents.push(c);
      }
    };
    await expect(iterate()).rejects.toThrow(/terminated/);
    expect(contents).toHaveLength(3);
    expect(server.stats()).toMatchObject({ completed: 0, aborted: 0, active: 0 });
  });

  it('counts a client that disconnects mid-stream as aborted, at once', async () => {
    const { client, server } = await start({ tokenDelayMs: 50 });
    const stream = await client.chat.completions.create({ model: MODEL, messages: MESSAGES, max_tokens: 100, stream: true });
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) break; // leaving the loop aborts the request
    }
    expect(server.stats().active).toBeLessThanOrEqual(1);
    await waitFor(() => server.stats().aborted === 1, 5000);
    // Still nothing completed a while later: the generation was stopped, not left running.
    await new Promise((r) => setTimeout(r, 120));
    expect(server.stats()).toEqual({ requests: 1, completed: 0, aborted: 1, active: 0 });
  });

  it('sends each token as it is produced', async () => {
    const { url } = await start({ tokenDelayMs: 30 });
    const started = performance.now();
    const res = await postJson(`${url}/v1/chat/completions`, { messages: MESSAGES, max_tokens: 20, stream: true });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let firstContentAt = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (!firstContentAt && text.includes('"content":" ')) firstContentAt = performance.now() - started;
    }
    const total = performance.now() - started;
    expect(text.match(/"content":" /g)).toHaveLength(20);
    expect(firstContentAt).toBeGreaterThan(0);
    // The first token long before the last (20 × 30 ms): streamed, not buffered, however busy the machine.
    expect(total).toBeGreaterThanOrEqual(570);
    expect(firstContentAt).toBeLessThan(total / 2);
  });

  it('streams a 2,000-token answer quickly and completely', async () => {
    const { client } = await start();
    const started = performance.now();
    const stream = await client.chat.completions.create({ model: MODEL, messages: MESSAGES, max_tokens: 2000, stream: true });
    let contentChunks = 0;
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      const c = chunk.choices[0]?.delta.content;
      if (c) {
        contentChunks += 1;
        text += c;
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(contentChunks).toBe(2000);
    expect(finish).toBe('length');
    expect(performance.now() - started).toBeLessThan(10_000);
    const plain = await client.chat.completions.create({ model: MODEL, messages: MESSAGES, max_tokens: 2000 });
    expect(text).toBe(plain.choices[0].message.content);
  });

  it('delays plain answers by tokens * delay, overridable per request', async () => {
    const { url, server } = await start({ tokenDelayMs: 0 });
    let started = performance.now();
    await (await postJson(`${url}/v1/completions`, { prompt: 'x', max_tokens: 5 }, { 'x-mock-token-delay-ms': '30' })).json();
    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
    // 5 × 2 s without the header: well under that, the header's 0 won (a bound for a busy machine).
    server.setOptions({ tokenDelayMs: 2000 });
    started = performance.now();
    await (await postJson(`${url}/v1/completions`, { prompt: 'x', max_tokens: 5 }, { 'x-mock-token-delay-ms': '0' })).json();
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('enforces the API key and the loading state set at run time', async () => {
    const { client, server, url } = await start();
    server.setOptions({ apiKey: 'sekret' });
    const denied = await client.models.list().catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(OpenAI.AuthenticationError);
    const allowed = await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer sekret' } });
    expect(allowed.status).toBe(200);

    server.setOptions({ apiKey: undefined, loading: true });
    const loading = await postJson(`${url}/v1/chat/completions`, { messages: MESSAGES });
    expect(loading.status).toBe(503);
    expect(((await loading.json()) as { error: unknown }).error).toMatchObject({
      message: 'model is still loading',
      type: 'service_unavailable',
    });
    expect((await fetch(`${url}/health`)).status).toBe(200);

    server.setOptions({ loading: false });
    expect((await client.models.list()).data).toHaveLength(1);
    expect(() => server.setOptions({ tokenDelayMs: -1 })).toThrow(TypeError);
  });

  it('echoes x-request-id and serves its stats over HTTP', async () => {
    const { url, server } = await start();
    const res = await postJson(`${url}/v1/chat/completions`, { messages: MESSAGES }, { 'x-request-id': 'req-123' });
    expect(res.headers.get('x-request-id')).toBe('req-123');
    await res.json();
    const err = await postJson(`${url}/v1/chat/completions`, '{', { 'x-request-id': 'req-456' });
    expect(err.headers.get('x-request-id')).toBe('req-456');
    await err.json();

    expect(await (await fetch(`${url}/mock/stats`)).json()).toEqual({ requests: 2, completed: 1, aborted: 0, active: 0 });
    const reset = await fetch(`${url}/mock/reset`, { method: 'POST' });
    expect(await reset.json()).toEqual({ requests: 0, completed: 0, aborted: 0, active: 0 });
    expect(server.stats()).toEqual({ requests: 0, completed: 0, aborted: 0, active: 0 });
  });

  it('closes promptly despite an open stream of 100 s and an idle keep-alive connection', async () => {
    const { url, server } = await start({ tokenDelayMs: 100 });
    await (await fetch(`${url}/v1/models`)).json(); // leaves an idle keep-alive socket
    const res = await postJson(`${url}/v1/chat/completions`, { messages: MESSAGES, max_tokens: 1000, stream: true });
    const reader = res.body!.getReader();
    await reader.read();
    expect(server.stats().active).toBe(1);

    const started = performance.now();
    await server.close();
    expect(performance.now() - started).toBeLessThan(5_000);
    await expect(reader.read()).rejects.toThrow();
    expect(server.stats()).toMatchObject({ active: 0, aborted: 1, completed: 0 });
  });
});
