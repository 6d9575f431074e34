import { describe, expect, it } from 'vitest';
import { droppedOnApiAnswers, responseHeadRefusal } from './response-head';

describe('responseHeadRefusal', () => {
  it('relays final answers with ordinary headers', () => {
    expect(responseHeadRefusal(200, [{ name: 'content-type', value: 'text/event-stream; charset=utf-8' }])).toBeUndefined();
    expect(responseHeadRefusal(599, [{ name: 'x-unicode', value: 'caf\u00e9' }])).toBeUndefined();
  });

  it('refuses 1xx, 101 and statuses outside HTTP', () => {
    for (const status of [100, 101, 103, 199, 0, 600, 99, 200.5]) expect(responseHeadRefusal(status, []), String(status)).toMatch(/not a final HTTP answer/);
  });

  it('refuses header names and values with CR, LF or control characters, without quoting the value', () => {
    const bad = responseHeadRefusal(200, [{ name: 'x-bad', value: 'a\r\nSet-Cookie: SECRET=1' }]);
    expect(bad).toMatch(/x-bad has a value/);
    expect(bad).not.toContain('SECRET');
    expect(responseHeadRefusal(200, [{ name: 'x-bad', value: 'a\u0001b' }])).toBeDefined();
    expect(responseHeadRefusal(200, [{ name: 'x bad', value: 'v' }])).toMatch(/#1 has a name/);
    expect(responseHeadRefusal(200, [{ name: 'x\r\nbad', value: 'v' }])).toBeDefined();
  });
});

describe('droppedOnApiAnswers', () => {
  it('drops cookies and CORS grants, keeps the rest', () => {
    for (const name of ['set-cookie', 'set-cookie2', 'access-control-allow-origin', 'access-control-allow-credentials', 'Set-Cookie', 'Access-Control-Allow-Origin']) expect(droppedOnApiAnswers(name), name).toBe(true);
    for (const name of ['content-type', 'x-ratelimit-remaining', 'cache-control']) expect(droppedOnApiAnswers(name), name).toBe(false);
  });
});
