import { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NGINX_502_PAGE } from '@st/mock-model';
import { SqliteStore } from '@st/store';
import { type Stack, cleanupAll, startAgent, startStack, waitForTunnel } from '@st/testing';
import { MODEL, openai, postJson, userMessage } from './support';

// Issue 10, part 5: whatever error shape the model server answers in, AI Chat (here the official
// `openai` client) reads OpenAI's, with the model server's status and message; a plain HTTP
// tunnel gets the model server's bytes as they were.

let stack: Stack;
let store: SqliteStore;
let plainUrl: string;

beforeAll(async () => {
  stack = await startStack();
  store = SqliteStore.open({ dataDir: stack.dataDir });
  const plain = await store.createTunnel({ userId: stack.userId, name: 'webapp', openai: false });
  await startAgent({ ST_BROKER_URL: stack.brokerUrl, ST_TUNNEL_TOKEN: plain.agentToken, ST_UPSTREAM_URL: stack.mockUrl });
  plainUrl = `${stack.publicUrl}/t/${plain.tunnel.id}`;
  await waitForTunnel(`${plainUrl}/v1`, stack.apiKey);
});

afterAll(async () => {
  await store?.close();
  await cleanupAll();
});

/** What each of the mock's shapes must look like to the client. */
const SHAPES: { fault: string; status: number; type: string; message: RegExp }[] = [
  { fault: 'tgi', status: 422, type: 'validation', message: /^Input validation error$/ },
  { fault: 'vllm-flat', status: 400, type: 'BadRequestError', message: /^This model's maximum context length is 8192 tokens\.$/ },
  { fault: 'text-500', status: 500, type: 'upstream_error', message: /^Internal Server Error$/ },
  { fault: 'html-502', status: 502, type: 'upstream_error', message: /^the model server answered 502 Bad Gateway with an HTML error page titled "502 Bad Gateway"/ },
];

async function failure(call: Promise<unknown>): Promise<APIError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(APIError);
  return err as APIError;
}

function expectShape(err: APIError, shape: (typeof SHAPES)[number]): void {
  expect(err.status, shape.fault).toBe(shape.status);
  expect(err.type, shape.fault).toBe(shape.type);
  const error = err.error as { message: string; param: unknown; code: unknown };
  expect(error.message, shape.fault).toMatch(shape.message);
  expect(Object.keys(error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(error.message).not.toContain('<');
}

describe('upstream error shapes', () => {
  it('arrive at the openai client as APIErrors with the status, type and message, plain and streamed', async () => {
    const client = openai(stack.baseURL, stack.apiKey);
    for (const shape of SHAPES) {
      const headers = { 'x-mock-error': shape.fault };
      expectShape(await failure(client.chat.completions.create({ model: MODEL, messages: userMessage('hi') }, { headers })), shape);
      expectShape(await failure(client.chat.completions.create({ model: MODEL, messages: userMessage('hi'), stream: true }, { headers })), shape);
    }
  });

  it('are normalised on the unified /v1 endpoint too', async () => {
    const client = openai(`${stack.publicUrl}/v1`, stack.apiKey);
    for (const shape of SHAPES) {
      const err = await failure(client.chat.completions.create({ model: `demo/${MODEL}`, messages: userMessage('hi') }, { headers: { 'x-mock-error': shape.fault } }));
      expectShape(err, shape);
    }
  });

  it('keep their headers, with a JSON content type and our request id', async () => {
    const res = await postJson(`${stack.baseURL}/chat/completions`, stack.apiKey, { model: MODEL, messages: userMessage('hi') }, { 'x-mock-error': 'html-502', 'x-request-id': 'r-html' });
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('x-request-id')).toBe('r-html');
    const text = await res.text();
    expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(text));
  });

  it('reach a plain HTTP tunnel untouched', async () => {
    const html = await postJson(`${plainUrl}/v1/chat/completions`, stack.apiKey, { model: MODEL, messages: userMessage('hi') }, { 'x-mock-error': 'html-502' });
    expect([html.status, html.headers.get('content-type'), await html.text()]).toEqual([502, 'text/html', NGINX_502_PAGE]);
    const tgi = await postJson(`${plainUrl}/v1/chat/completions`, stack.apiKey, { model: MODEL, messages: userMessage('hi') }, { 'x-mock-error': 'tgi' });
    expect([tgi.status, await tgi.text()]).toEqual([422, '{"error":"Input validation error","error_type":"validation"}']);
  });

  it("GET /v1/models/{id}: the model object, and the model server's own 404 for an unknown id", async () => {
    const client = openai(stack.baseURL, stack.apiKey);
    expect(await client.models.retrieve(MODEL)).toMatchObject({ id: MODEL, object: 'model' });
    const direct = await fetch(`${stack.mockUrl}/v1/models/nope`);
    const viaTunnel = await fetch(`${stack.baseURL}/models/nope`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    // OpenAI-shaped already: byte for byte.
    expect([viaTunnel.status, await viaTunnel.text()]).toEqual([404, await direct.text()]);
    const err = await failure(client.models.retrieve('nope'));
    expect([err.status, err.code]).toEqual([404, 'model_not_found']);
  });
});
