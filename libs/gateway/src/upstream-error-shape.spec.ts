import { describe, expect, it } from 'vitest';
import { UpstreamErrorAnswer } from './upstream-error-answer';
import { ERROR_BODY_CAP, normaliseUpstreamError } from './upstream-error-shape';

const JSON_TYPE = 'application/json';

/** The normalised `error` object, or 'untouched' when the body passes as it came. */
function shape(status: number, body: string | Uint8Array, contentType = JSON_TYPE, cut = false): unknown {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const out = normaliseUpstreamError(status, contentType, bytes, cut);
  if (out === undefined) return 'untouched';
  const parsed = JSON.parse(out) as { error: Record<string, unknown> };
  expect(Object.keys(parsed)).toEqual(['error']);
  expect(Object.keys(parsed.error)).toEqual(['message', 'type', 'param', 'code']);
  return parsed.error;
}

describe('normaliseUpstreamError', () => {
  it("takes TGI's message and its error_type as the type", () => {
    expect(shape(422, '{"error":"Input validation error: `inputs` must have less than 4096 tokens","error_type":"validation"}')).toEqual({
      message: 'Input validation error: `inputs` must have less than 4096 tokens',
      type: 'validation',
      param: null,
      code: null,
    });
    expect(shape(500, '{"error":"Request failed during generation"}')).toEqual({ message: 'Request failed during generation', type: 'upstream_error', param: null, code: null });
  });

  it("takes older vLLM's flat object field by field", () => {
    const flat = '{"object":"error","message":"This model\'s maximum context length is 8192 tokens","type":"BadRequestError","param":"messages","code":400}';
    expect(shape(400, flat)).toEqual({ message: "This model's maximum context length is 8192 tokens", type: 'BadRequestError', param: 'messages', code: 400 });
    expect(shape(404, '{"object":"error","message":"The model `x` does not exist.","type":"NotFoundError","param":null,"code":"model_not_found"}')).toEqual({
      message: 'The model `x` does not exist.',
      type: 'NotFoundError',
      param: null,
      code: 'model_not_found',
    });
  });

  it("takes FastAPI's detail, a string or a list", () => {
    expect(shape(404, '{"detail":"Not Found"}')).toEqual({ message: 'Not Found', type: 'upstream_error', param: null, code: null });
    const list = '{"detail":[{"loc":["body","messages"],"msg":"field required","type":"value_error.missing"}]}';
    expect((shape(422, list) as { message: string }).message).toBe(JSON.stringify(JSON.parse(list).detail));
  });

  it('keeps a plain-text body as the message, type upstream_error', () => {
    expect(shape(500, 'Internal Server Error\n', 'text/plain; charset=utf-8')).toEqual({ message: 'Internal Server Error', type: 'upstream_error', param: null, code: null });
    // Without a content type, and text that is no JSON although it starts like it.
    expect(shape(503, '{oops', undefined)).toEqual({ message: '{oops', type: 'upstream_error', param: null, code: null });
  });

  it("says an HTML page came, with its status and <title>, never the page", () => {
    const page = '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n';
    const error = shape(502, page, 'text/html') as { message: string; type: string };
    expect(error.type).toBe('upstream_error');
    expect(error.message).toMatch(/^the model server answered 502 Bad Gateway with an HTML error page titled "502 Bad Gateway"/);
    expect(error.message).not.toContain('nginx');
    expect(error.message).not.toContain('<');
    // Recognised without a content type too; entities decoded, whitespace folded, long titles cut.
    const odd = `<!DOCTYPE html><html><head><TITLE lang="en">\n  Tom &amp; Jerry&#39;s &#x2014; ${'x'.repeat(500)}</TITLE></head></html>`;
    const oddError = shape(500, odd, undefined) as { message: string };
    expect(oddError.message).toContain('"Tom & Jerry\'s — xxx');
    expect(oddError.message.length).toBeLessThan(400);
    expect((shape(504, '<html><body>gateway timeout</body></html>', 'text/html') as { message: string }).message).toMatch(
      /^the model server answered 504 Gateway Timeout with an HTML error page;/,
    );
  });

  it('says when the body was empty', () => {
    expect(shape(500, '', undefined)).toEqual({ message: 'the model server answered 500 Internal Server Error with an empty error body', type: 'upstream_error', param: null, code: null });
    expect((shape(599, '   ', 'text/plain') as { message: string }).message).toBe('the model server answered 599 with an empty error body');
  });

  it('leaves OpenAI-shaped bodies alone, even odd ones', () => {
    for (const body of [
      '{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}',
      '{"error":{"message":"no type, param or code"}}',
      '  {"error":{"message":"m","type":"t","param":null,"code":401},"extra":{"a":[1,2]}}\n',
      '{"error":{"message":"","type":null}}',
      '{"error":{"message":"dup"},"error":{"message":"dup2"}}',
    ]) {
      expect(shape(400, body), body).toBe('untouched');
    }
  });

  it('reshapes JSON that only looks OpenAI-shaped', () => {
    expect(shape(400, '{"error":{"message":42,"type":"t"}}')).toEqual({ message: '42', type: 't', param: null, code: null });
    expect(shape(400, '{"error":{"type":"t","code":"c","param":"p"}}')).toEqual({ message: '{"type":"t","code":"c","param":"p"}', type: 't', param: 'p', code: 'c' });
    expect(shape(400, '{"error":null}')).toEqual({ message: '{"error":null}', type: 'upstream_error', param: null, code: null });
    expect(shape(400, '[{"error":{"message":"in a list"}}]')).toEqual({ message: '[{"error":{"message":"in a list"}}]', type: 'upstream_error', param: null, code: null });
    expect(shape(400, '"just a string"')).toEqual({ message: 'just a string', type: 'upstream_error', param: null, code: null });
    expect(shape(400, '{"message":"m","error_type":"validation","code":{"nested":true}}')).toEqual({ message: 'm', type: 'validation', param: null, code: null });
  });

  it('turns bytes that are not UTF-8 into U+FFFD, and still passes an OpenAI body byte for byte', () => {
    const latin1 = Buffer.from('caf\xe9 \xff\xfe failed', 'latin1');
    expect((shape(500, latin1, 'text/plain; charset=iso-8859-1') as { message: string }).message).toBe('caf\uFFFD \uFFFD\uFFFD failed');
    const openai = Buffer.concat([Buffer.from('{"error":{"message":"bad '), Buffer.from([0xc3, 0x28]), Buffer.from('"}}')]);
    expect(normaliseUpstreamError(400, JSON_TYPE, openai, false)).toBeUndefined();
    // A BOM before JSON is no reason to treat it as text.
    expect(shape(422, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"error":"tgi","error_type":"validation"}')]))).toMatchObject({ message: 'tgi', type: 'validation' });
  });

  it('says a cut body was cut, and never parses it as JSON', () => {
    const error = shape(500, 'x'.repeat(100), 'text/plain', true) as { message: string };
    expect(error.message).toBe(`${'x'.repeat(100)}… (cut: the model server's error body is longer than ${ERROR_BODY_CAP} bytes)`);
    expect((shape(500, '{"error":{"message":"m"}', JSON_TYPE, true) as { message: string }).message).toMatch(/^\{"error":\{"message":"m"\}… \(cut/);
  });
});

describe('UpstreamErrorAnswer', () => {
  const headers = [
    { name: 'content-type', value: 'text/plain' },
    { name: 'content-length', value: '21' },
    { name: 'retry-after', value: '3' },
  ];

  it('gathers chunks up to the end, keeps the status and unrelated headers, and sets a JSON content type and length', () => {
    const gatherer = UpstreamErrorAnswer.for(503, headers)!;
    expect(gatherer.add(Buffer.from('Service '), false)).toBeUndefined();
    expect(gatherer.add(Buffer.from(''), false)).toBeUndefined();
    const answer = gatherer.add(Buffer.from('Unavailable'), true)!;
    expect(answer.status).toBe(503);
    expect(answer.cut).toBe(false);
    expect(JSON.parse(Buffer.from(answer.body).toString()).error.message).toBe('Service Unavailable');
    expect(answer.headers).toEqual([
      { name: 'retry-after', value: '3' },
      { name: 'content-type', value: 'application/json' },
      { name: 'content-length', value: String(answer.body.length) },
    ]);
  });

  it('hands an OpenAI body back untouched, with its own headers', () => {
    const body = '{"error":{"message":"m","type":"t","param":null,"code":null}}';
    const own = [{ name: 'content-type', value: 'application/json' }];
    const answer = UpstreamErrorAnswer.for(400, own)!.add(Buffer.from(body), true)!;
    expect(Buffer.from(answer.body).toString()).toBe(body);
    expect(answer.headers).toBe(own);
  });

  it('stops at the cap and says so', () => {
    const gatherer = UpstreamErrorAnswer.for(500, headers)!;
    expect(gatherer.add(Buffer.alloc(ERROR_BODY_CAP - 10, 'a'), false)).toBeUndefined();
    const answer = gatherer.add(Buffer.alloc(1000, 'b'), false)!;
    expect(answer.cut).toBe(true);
    const message = JSON.parse(Buffer.from(answer.body).toString()).error.message as string;
    expect(message.startsWith(`${'a'.repeat(ERROR_BODY_CAP - 10)}bbbbbbbbbb…`)).toBe(true);
    expect(message).toMatch(/cut: the model server's error body is longer than 65536 bytes\)$/);
  });

  it('lets a compressed body pass as it is', () => {
    expect(UpstreamErrorAnswer.for(500, [{ name: 'content-encoding', value: 'gzip' }])).toBeUndefined();
    expect(UpstreamErrorAnswer.for(500, [{ name: 'content-encoding', value: 'identity' }])).toBeDefined();
  });
});
