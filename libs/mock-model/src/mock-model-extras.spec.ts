import OpenAI, { APIError } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { MockModelServer, NGINX_502_PAGE, type ReceivedTraceHeaders } from './index';

// The mock's other model servers' error shapes, GET /v1/models/{id} and its log of trace headers.

const servers: MockModelServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(models?: string[]) {
  const server = new MockModelServer({ models });
  servers.push(server);
  const { url } = await server.listen(0);
  return { url, client: new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 }) };
}

const CHAT = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] });

async function post(url: string, fault: string, stream = false): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-mock-error': fault },
    body: stream ? JSON.stringify({ ...JSON.parse(CHAT), stream: true }) : CHAT,
  });
}

describe('MockModelServer extras', () => {
  it('answers x-mock-error vllm-flat, text-500 and html-502 as those servers do, streamed or not', async () => {
    const { url } = await start();
    for (const stream of [false, true]) {
      const flat = await post(url, 'vllm-flat', stream);
      expect(flat.status).toBe(400);
      expect(await flat.json()).toEqual({ object: 'error', message: "This model's maximum context length is 8192 tokens.", type: 'BadRequestError', param: null, code: 400 });
      const text = await post(url, 'text-500', stream);
      expect([text.status, text.headers.get('content-type'), await text.text()]).toEqual([500, 'text/plain; charset=utf-8', 'Internal Server Error']);
      const html = await post(url, 'html-502', stream);
      expect([html.status, html.headers.get('content-type'), await html.text()]).toEqual([502, 'text/html', NGINX_502_PAGE]);
    }
    const typo = await post(url, 'html-503');
    expect(typo.status).toBe(400);
    expect(((await typo.json()) as { error: { message: string } }).error.message).toContain('tgi, vllm-flat, text-500, html-502');
  });

  it("answers GET /v1/models/{id} with OpenAI's model object, and 404 model_not_found for an unknown id", async () => {
    const { url, client } = await start(['mock-llama-3-8b', 'meta-llama/Llama-3-8B']);
    const model = await client.models.retrieve('mock-llama-3-8b');
    expect(model).toMatchObject({ id: 'mock-llama-3-8b', object: 'model', owned_by: 'mock' });
    expect(typeof model.created).toBe('number');
    // Ids with a slash are served under their own path, as vLLM does.
    expect(await (await fetch(`${url}/v1/models/meta-llama/Llama-3-8B`)).json()).toMatchObject({ id: 'meta-llama/Llama-3-8B' });
    const missing = await client.models.retrieve('gpt-nope').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(APIError);
    expect((missing as APIError).status).toBe(404);
    expect((missing as APIError).code).toBe('model_not_found');
    expect((missing as APIError).message).toContain('The model `gpt-nope` does not exist.');
    expect((await fetch(`${url}/v1/models/mock-llama-3-8b`, { method: 'DELETE' })).status).toBe(404);
    expect((await fetch(`${url}/v1/models/mock-llama-3-8b`, { headers: { 'x-mock-error': 'text-500' } })).status).toBe(500);
  });

  it('reports the trace headers its /v1 requests came with', async () => {
    const { url } = await start();
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await fetch(`${url}/v1/models`, { headers: { traceparent, tracestate: 'congo=t61rcWkgMzE', 'x-request-id': 'r-traced' } });
    await fetch(`${url}/v1/models`);
    await fetch(`${url}/health`);
    const { received } = (await (await fetch(`${url}/mock/trace-headers`)).json()) as { received: ReceivedTraceHeaders[] };
    expect(received).toEqual([
      { method: 'GET', path: '/v1/models', requestId: 'r-traced', traceparent, tracestate: 'congo=t61rcWkgMzE' },
      { method: 'GET', path: '/v1/models', requestId: null, traceparent: null, tracestate: null },
    ]);
  });
});
