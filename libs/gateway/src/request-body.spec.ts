import { describe, expect, it } from 'vitest';
import { isJsonRequest, validateJson } from './request-body';

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

describe('ids that can name nothing', () => {
  it('flags control characters (PostgreSQL refuses NUL) but not ordinary ids', async () => {
    const { hasControlChars } = await import('./gateway-server');
    expect(hasControlChars('t-abc123')).toBe(false);
    expect(hasControlChars('..')).toBe(false);
    expect(hasControlChars('\u0000')).toBe(true);
    expect(hasControlChars('t-\u007f')).toBe(true);
  });
});
