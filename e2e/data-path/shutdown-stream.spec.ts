import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, cleanupAll, startAgent, startServer, startStack, waitForTunnel } from '@st/testing';
import { MODEL } from './support';

// Issue 7: Ctrl-C on `npm start` (SIGTERM to st-server and st-agent at once) during a streamed
// answer cut the stream with no error event: the server's and the agent's graces raced. The
// client must see either [DONE] after a complete answer or an error event, never a bare EOF.

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(cleanupAll);

interface Ending {
  done: boolean;
  errorEvent: { error: { code: string; message: string } } | undefined;
  text: string;
}

/** Opens a slow streamed answer (200 tokens, 50 ms apart: 10 s) and returns once the first bytes came. */
async function openStream(publicUrl: string): Promise<{ rest: () => Promise<Ending> }> {
  const res = await fetch(`${publicUrl}/t/${stack.tunnelId}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json', 'x-mock-token-delay-ms': '50' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'a long answer' }], max_tokens: 200, stream: true }),
  });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!text.includes('"content"')) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  return {
    rest: async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          text += decoder.decode(value, { stream: true });
        }
      } catch {
        // A reset connection: the bare cut this spec is about; judged below by what arrived.
      }
      const events = text.split('\n\n').map((e) => e.trim()).filter((e) => e.startsWith('data: '));
      const last = events.at(-1)?.slice('data: '.length);
      const errorEvent = last && last.startsWith('{"error"') ? (JSON.parse(last) as Ending['errorEvent']) : undefined;
      return { done: last === '[DONE]', errorEvent, text };
    },
  };
}

/** The answer ended as a client can tell: [DONE] after a finish_reason, or an error event (and then no [DONE]). */
function expectVisibleEnding(ending: Ending): void {
  expect(ending.done || ending.errorEvent !== undefined, `the stream ended with neither [DONE] nor an error event:\n${ending.text.slice(-300)}`).toBe(true);
  if (ending.done) expect(ending.text).toMatch(/"finish_reason":"length"/);
  if (ending.errorEvent) {
    expect(ending.text).not.toContain('[DONE]');
    expect(ending.errorEvent.error.message).toBeTruthy();
  }
}

describe('shutdown during a streamed answer', () => {
  it('SIGTERM to st-server alone ends the answer with an error event once its grace is over', async () => {
    const server = await startServer({ ST_DATA_DIR: stack.dataDir, ST_SHUTDOWN_GRACE_MS: 1000 });
    const agent = await startAgent({ ...stack.agentEnv, ST_BROKER_URL: `http://127.0.0.1:${server.grpcPort}` });
    await waitForTunnel(`${server.publicUrl}/t/${stack.tunnelId}/v1`, stack.apiKey);
    const open = await openStream(server.publicUrl!);

    const exit = await server.process.stop('SIGTERM', 15_000);
    expect(exit).toEqual({ code: 0, signal: null });
    const ending = await open.rest();
    expectVisibleEnding(ending);
    // 10 s of answer against a 1 s grace: it cannot have finished.
    expect(ending.errorEvent).toBeDefined();
    await agent.stop();
  });

  // As tools/dev/start-demo.mjs stops them (agent drain 2 s, server grace 3 s), and with equal
  // graces, the race that cut the stream bare.
  it.each([
    { agentGraceMs: 2000, serverGraceMs: 3000 },
    { agentGraceMs: 2000, serverGraceMs: 2000 },
  ])('SIGTERM to st-agent and st-server at once (drain $agentGraceMs ms, grace $serverGraceMs ms) ends it visibly', async ({ agentGraceMs, serverGraceMs }) => {
    const server = await startServer({ ST_DATA_DIR: stack.dataDir, ST_SHUTDOWN_GRACE_MS: serverGraceMs });
    const agent = await startAgent({ ...stack.agentEnv, ST_BROKER_URL: `http://127.0.0.1:${server.grpcPort}`, ST_DRAIN_GRACE_MS: agentGraceMs });
    await waitForTunnel(`${server.publicUrl}/t/${stack.tunnelId}/v1`, stack.apiKey);
    const open = await openStream(server.publicUrl!);

    const [serverExit, agentExit] = await Promise.all([server.process.stop('SIGTERM', 15_000), agent.stop('SIGTERM', 15_000)]);
    expect(serverExit).toEqual({ code: 0, signal: null });
    expect(agentExit.signal).toBeNull();
    const ending = await open.rest();
    expectVisibleEnding(ending);
    expect(ending.errorEvent).toBeDefined();
  });
});
