import type OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AGENT_CONNECTED,
  type Stack,
  cleanupAll,
  portIsFree,
  startAgent,
  startServer,
  startStack,
  waitForTunnel,
} from '@st/testing';
import { MODEL, openai, userMessage } from './support';

let stack: Stack;
let tunnel: OpenAI;

beforeAll(async () => {
  stack = await startStack();
  tunnel = openai(stack.baseURL, stack.apiKey);
});

// A test that killed the agent and failed before restarting it must not take the next ones down.
beforeEach(async () => {
  if (stack.agent.exit) {
    stack.agent = await startAgent(stack.agentEnv);
    await waitForTunnel(stack.baseURL, stack.apiKey);
  }
});

afterAll(cleanupAll);

/** Opens a slow streamed answer and resolves once `tokens` tokens have arrived. */
async function streamUntil(client: OpenAI, tokens: number, headers: Record<string, string> = {}) {
  const stream = await client.chat.completions.create(
    { model: MODEL, messages: userMessage('a long answer'), max_tokens: 500, stream: true },
    { headers: { 'x-mock-token-delay-ms': '20', ...headers } },
  );
  const iterator = stream[Symbol.asyncIterator]();
  let received = 0;
  while (received < tokens) {
    const next = await iterator.next();
    if (next.done) throw new Error(`the stream ended after ${received} tokens`);
    if (next.value.choices[0]?.delta?.content) received++;
  }
  /** Reads the rest; resolves to how it ended. */
  const rest = async (): Promise<{ ended: 'cleanly' } | { ended: 'with an error'; error: Error }> => {
    try {
      for (;;) if ((await iterator.next()).done) return { ended: 'cleanly' };
    } catch (error) {
      return { ended: 'with an error', error: error as Error };
    }
  };
  return { rest };
}

describe('an answer that breaks off', () => {
  it('when the agent is killed ends the client stream with an error, not a clean end', async () => {
    const open = await streamUntil(tunnel, 3);
    await stack.agent.kill();
    const outcome = await open.rest();
    expect(outcome.ended).toBe('with an error');
    if (outcome.ended === 'with an error') expect(outcome.error.message).toMatch(/agent .*disconnected/);
    // A new agent brings the tunnel back.
    stack.agent = await startAgent(stack.agentEnv);
    await waitForTunnel(stack.baseURL, stack.apiKey);
  });

  it('when the model server crashes mid-answer ends the client stream with an error', async () => {
    const stream = await tunnel.chat.completions.create(
      { model: MODEL, messages: userMessage('crash please'), max_tokens: 50, stream: true },
      { headers: { 'x-mock-error': 'midstream' } },
    );
    let content = '';
    const reading = (async () => {
      for await (const chunk of stream) content += chunk.choices[0]?.delta?.content ?? '';
    })();
    await expect(reading).rejects.toThrow(/broke off/);
    // The mock let 3 tokens through before dying.
    expect(content.trim().split(' ')).toHaveLength(3);
  });
});

describe('the broker', () => {
  it('restarted on the same ports and data directory is found again by the agent', async () => {
    const agent = stack.agent;
    const connectedBefore = agent.lines.filter((l) => AGENT_CONNECTED.test(l.text)).length;
    const { httpPort, grpcPort, dataDir } = stack.server;
    await stack.server.process.kill();
    stack.server = await startServer({ ST_HTTP_PORT: httpPort, ST_GRPC_PORT: grpcPort, ST_DATA_DIR: dataDir });
    const started = performance.now();
    await waitForTunnel(stack.baseURL, stack.apiKey, 15_000);
    expect(performance.now() - started).toBeLessThan(15_000);
    // The same agent process reconnected by itself.
    expect(agent.exit).toBeUndefined();
    expect(agent.lines.filter((l) => AGENT_CONNECTED.test(l.text)).length).toBe(connectedBefore + 1);
    const answer = await tunnel.chat.completions.create({ model: MODEL, messages: userMessage('back again?'), max_tokens: 4 });
    expect(answer.choices[0].message.content).toMatch(/^( \w+){4}$/);
  });

  it('stops within 5 s on SIGTERM with an agent and an open answer, and frees both ports', async () => {
    // A server of its own on the same data directory, so this test leaves the stack alone.
    const server = await startServer({ ST_DATA_DIR: stack.dataDir });
    const agent = await startAgent({ ...stack.agentEnv, ST_BROKER_URL: `http://127.0.0.1:${server.grpcPort}` });
    const client = openai(`${server.publicUrl}/t/${stack.tunnelId}/v1`, stack.apiKey);
    // The agent is routable once its first health report is in, a moment after it connects.
    await waitForTunnel(`${server.publicUrl}/t/${stack.tunnelId}/v1`, stack.apiKey);
    const open = await streamUntil(client, 2, { 'x-mock-token-delay-ms': '50' });

    const started = performance.now();
    const exit = await server.process.stop('SIGTERM', 10_000);
    const took = performance.now() - started;
    expect(took).toBeLessThan(5_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(await portIsFree(server.httpPort!)).toBe(true);
    expect(await portIsFree(server.grpcPort!)).toBe(true);
    // The open answer was cut, visibly.
    expect((await open.rest()).ended).toBe('with an error');
    // The agent outlives its broker and keeps trying.
    expect(agent.exit).toBeUndefined();
  });
});
