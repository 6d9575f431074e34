import { describe, expect, it } from 'vitest';
import { errorMessageOf } from './openai-error';

describe('errorMessageOf', () => {
  it("takes the OpenAI body's message", () => {
    const body = JSON.stringify({ error: { message: 'tunnel t-1 is stopped: restart the session and its tunnel', type: 'x', code: 'tunnel_stopped' } });
    expect(errorMessageOf(503, 'Service Unavailable', body)).toBe('tunnel t-1 is stopped: restart the session and its tunnel');
  });

  it('says the status when the body is not OpenAI-shaped', () => {
    expect(errorMessageOf(502, 'Bad Gateway', '<html>bad</html>')).toBe('the server answered 502 Bad Gateway: <html>bad</html>');
    expect(errorMessageOf(500, '', '')).toBe('the server answered 500');
  });
});
