import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { isJsonRequest, readJsonBody, validateJson } from './request-body';

/** A request whose body chunks are all in its buffer; `complete` as the HTTP parser would set it. */
function bufferedRequest(chunks: string[], complete: boolean): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  for (const chunk of chunks) req.push(Buffer.from(chunk));
  req.push(null);
  req.complete = complete;
  return req;
}

describe('request body checks', () => {
  it('validates JSON objects and says where JSON breaks', () => {
    expect(validateJson(Buffer.from('{"model":"m"}'))).toBeUndefined();
    expect(validateJson(Buffer.from('{"model":'))?.kind).toBe('bad_request');
    expect(validateJson(Buffer.from('{"model":'))?.message).toMatch(/not valid JSON/);
    expect(validateJson(Buffer.from('[1,2]'))?.message).toMatch(/JSON object/);
    expect(validateJson(Buffer.alloc(0))?.message).toMatch(/empty/);
    expect(validateJson(Buffer.from('{"model":"m"} {"secret":"SECRET-1"}'))?.message).toBe(
      'the request body is not valid JSON: expected the end of the body after the top-level object at byte 14',
    );
  });

  it('names the depth limit and its setting, and quotes no input', () => {
    const deep = Buffer.from(`{"messages":${'['.repeat(200)}"SECRET-2"${']'.repeat(200)}}`);
    const error = validateJson(deep);
    expect(error?.kind).toBe('bad_request');
    expect(error?.message).toMatch(/deeper than the limit of 128 levels .*ST_MAX_JSON_DEPTH/);
    expect(validateJson(deep, 300)).toBeUndefined();
    for (const body of [deep, Buffer.from('{"a":"SECRET-3'), Buffer.from('SECRET-4')]) expect(validateJson(body)?.message).not.toContain('SECRET');
  });

  it('treats JSON content types (and none) as JSON, multipart as a stream', () => {
    expect(isJsonRequest(undefined)).toBe(true);
    expect(isJsonRequest('application/json; charset=utf-8')).toBe(true);
    expect(isJsonRequest('application/vnd.api+json')).toBe(true);
    expect(isJsonRequest('multipart/form-data; boundary=x')).toBe(false);
  });
});

describe('reading a JSON body', () => {
  it('takes a body that has all arrived from the buffer, with the same limit and check as one read as it comes', async () => {
    for (const complete of [true, false]) {
      const { body, scanner } = await readJsonBody(bufferedRequest(['{"model":', '"m-1","n":1}'], complete), 100, 8);
      expect(body.toString(), String(complete)).toBe('{"model":"m-1","n":1}');
      expect(scanner.model?.raw?.toString()).toBe('m-1');
      await expect(readJsonBody(bufferedRequest(['{"model":', '"m-1"}'], complete), 10, 8)).rejects.toMatchObject({ kind: 'payload_too_large' });
      await expect(readJsonBody(bufferedRequest(['{"model":', '"m-1"'], complete), 100, 8)).rejects.toMatchObject({ kind: 'bad_request' });
      await expect(readJsonBody(bufferedRequest([], complete), 100, 8)).rejects.toMatchObject({ kind: 'bad_request', message: expect.stringMatching(/empty/) });
    }
  });
});

describe('ids that can name nothing', () => {
  it('flags control characters (PostgreSQL refuses NUL) but not ordinary ids', async () => {
    const { hasControlChars } = await import('./gateway-server');
    expect(hasControlChars('t-abc123')).toBe(false);
    expect(hasControlChars('..')).toBe(false);
    expect(hasControlChars('\u0000')).toBe(true);
    expect(hasControlChars('t-\u007f')).toBe(true);
  });
});
