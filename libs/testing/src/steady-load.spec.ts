import type { ServerResponse } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { type RecordedRequest, closeAllRecorders, startHttpRecorder } from './http-recorder';
import { SteadyLoad } from './steady-load';

// The failover specs trust SteadyLoad to tell a whole answer from one that only looks whole: here
// it meets a fake OpenAI server whose answers are whole, quietly short, or cut with an error event.

const TOKENS = 4;

function chunk(content: string): string {
  return `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
}

function answer(kind: 'whole' | 'short-done' | 'error-event') {
  return (req: RecordedRequest, res: ServerResponse) => {
    const body = JSON.parse(req.body) as { stream?: boolean };
    const words = kind === 'whole' ? TOKENS : TOKENS - 1;
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'c', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: ' w'.repeat(words) }, finish_reason: 'stop' }] }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (let i = 0; i < words; i++) res.write(chunk(' w'));
    if (kind === 'error-event') res.end(`data: ${JSON.stringify({ error: { message: 'broker went away', type: 'server_error', param: null, code: 'broker_unavailable' } })}\n\n`);
    else res.end('data: [DONE]\n\n');
  };
}

async function run(kind: 'whole' | 'short-done' | 'error-event') {
  const server = await startHttpRecorder(answer(kind));
  const load = SteadyLoad.start({ baseURLs: [`${server.url}/v1`], apiKey: 'k', concurrency: 2, maxTokens: TOKENS, tokenDelayMs: 0 });
  await load.waitForEnded(0, 6, 10_000);
  return load.stop();
}

afterAll(closeAllRecorders);

describe('SteadyLoad', () => {
  it('records whole answers, streamed and not, as ok', async () => {
    const records = await run('whole');
    expect(new Set(records.map((r) => r.outcome))).toEqual(new Set(['ok']));
    expect(new Set(records.map((r) => r.stream))).toEqual(new Set([true, false]));
    expect(records.filter((r) => r.stream).every((r) => r.sawDone && r.headStatus === 200)).toBe(true);
  });

  it('records an answer that ends early but cleanly as short, the failure a user cannot see', async () => {
    const records = await run('short-done');
    expect(new Set(records.map((r) => r.outcome))).toEqual(new Set(['short']));
  });

  it('records a stream cut with an SSE error event as an error, and says it saw the event', async () => {
    const streams = (await run('error-event')).filter((r) => r.stream);
    expect(streams.length).toBeGreaterThan(0);
    for (const r of streams) expect(r).toMatchObject({ outcome: 'error', headStatus: 200, sawErrorEvent: true, sawDone: false, error: expect.stringContaining('broker went away') });
  });
});
