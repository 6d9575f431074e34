import { type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Header } from '@st/proto';
import { silentLogger } from '@st/logging';
import { ExchangeResponder } from './exchange-responder';
import { ERROR_BODY_CAP } from './upstream-error-shape';

// The responder between a fake agent and a real HTTP client: upstream error answers on API
// routes reach the client in OpenAI's shape, whether their body came in the head or in chunks.

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

interface Feed {
  status: number;
  headers: Header[];
  chunks: Buffer[];
}

async function answer(feed: Feed, apiAnswer = true): Promise<{ status: number; headers: Headers; text: string; cancelled: string[]; released: number }> {
  const cancelled: string[] = [];
  let released = 0;
  const server = createServer((_req, res: ServerResponse) => {
    const responder = new ExchangeResponder(res, { requestId: 'r-1', tunnelId: 't-1', firstByteTimeoutMs: 10_000, idleTimeoutMs: 10_000, logger: silentLogger(), apiAnswer });
    responder.attach({ write: () => Promise.resolve(), release: (n) => (released += n), cancel: (reason) => cancelled.push(reason) });
    const [first, ...rest] = feed.chunks;
    responder.head(feed.status, feed.headers, first ?? Buffer.alloc(0), rest.length === 0);
    // The rest arrives over later turns, as Data frames do.
    let i = 0;
    const next = () => {
      if (i >= rest.length) return;
      responder.data(rest[i], i === rest.length - 1);
      i++;
      setImmediate(next);
    };
    setImmediate(next);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => server.close());
  const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, cancelled, released };
}

const html = '<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>';

describe('ExchangeResponder and upstream error answers', () => {
  it('puts an HTML page that came in chunks in OpenAI shape, keeping the status and the model server headers', async () => {
    const r = await answer({
      status: 502,
      headers: [{ name: 'content-type', value: 'text/html' }, { name: 'x-upstream', value: 'nginx' }],
      chunks: [Buffer.from(html.slice(0, 20)), Buffer.from(html.slice(20, 40)), Buffer.from(html.slice(40))],
    });
    expect(r.status).toBe(502);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(r.headers.get('x-upstream')).toBe('nginx');
    expect(r.headers.get('x-request-id')).toBe('r-1');
    const body = JSON.parse(r.text) as { error: { message: string; type: string } };
    expect(body.error.type).toBe('upstream_error');
    expect(body.error.message).toContain('"502 Bad Gateway"');
    expect(r.cancelled).toEqual([]);
    // Every byte the agent sent is given back as credit once the answer is out.
    expect(r.released).toBe(html.length);
  });

  it('passes an OpenAI-shaped error byte for byte, and a plain tunnel everything', async () => {
    const openai = '{"error":{"message":"Rate limit","type":"rate_limit_error","param":null,"code":429}}';
    const api = await answer({ status: 429, headers: [{ name: 'content-type', value: 'application/json' }], chunks: [Buffer.from(openai.slice(0, 10)), Buffer.from(openai.slice(10))] });
    expect([api.status, api.text]).toEqual([429, openai]);
    const plain = await answer({ status: 502, headers: [{ name: 'content-type', value: 'text/html' }], chunks: [Buffer.from(html)] }, false);
    expect([plain.status, plain.headers.get('content-type'), plain.text]).toEqual([502, 'text/html', html]);
  });

  it('leaves successes alone', async () => {
    const r = await answer({ status: 200, headers: [{ name: 'content-type', value: 'text/plain' }], chunks: [Buffer.from('not json, fine')] });
    expect([r.status, r.text]).toEqual([200, 'not json, fine']);
  });

  it('reads no more than the cap of a long error body, cancels the rest and says it was cut', async () => {
    const chunk = Buffer.alloc(16 * 1024, 'e');
    const r = await answer({ status: 500, headers: [{ name: 'content-type', value: 'text/plain' }], chunks: Array.from({ length: 8 }, () => chunk) });
    expect(r.status).toBe(500);
    const message = (JSON.parse(r.text) as { error: { message: string } }).error.message;
    expect(message).toMatch(/cut: the model server's error body is longer than 65536 bytes\)$/);
    expect(message.length).toBeLessThan(ERROR_BODY_CAP + 200);
    expect(r.cancelled).toEqual(['error body longer than the gateway reads']);
  });
});
