import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Stack, cleanupAll, startAgent, startStack, waitForTunnel } from '@st/testing';
import { logEntries, waitForEntries } from './resilience-support';

const MODEL = 'mock-llama-3-8b';
const GRACE_MS = 20_000;

let stack: Stack;
let client: OpenAI;

beforeAll(async () => {
  stack = await startStack({ agentEnv: { ST_DRAIN_GRACE_MS: GRACE_MS } });
  client = new OpenAI({ baseURL: stack.baseURL, apiKey: stack.apiKey, maxRetries: 0, timeout: 30_000 });
});

beforeEach(async () => {
  if (stack.agent.exit) {
    stack.agent = await startAgent(stack.agentEnv);
    await waitForTunnel(stack.baseURL, stack.apiKey);
  }
});

afterAll(cleanupAll);

/** A streamed answer of `tokens` tokens, 50 ms apart; resolves once `before` of them have arrived. */
async function openStream(tokens: number, before: number) {
  const stream = await client.chat.completions.create(
    { model: MODEL, messages: [{ role: 'user', content: 'a long answer' }], max_tokens: tokens, stream: true },
    { headers: { 'x-mock-token-delay-ms': '50' } },
  );
  const iterator = stream[Symbol.asyncIterator]();
  let content = '';
  let finishReason: string | null = null;
  let received = 0;
  while (received < before) {
    const next = await iterator.next();
    if (next.done) throw new Error(`the stream ended after ${received} tokens`);
    const delta = next.value.choices[0]?.delta?.content;
    if (delta) {
      content += delta;
      received++;
    }
  }
  /** Reads the rest: how it ended, the whole content, and when. */
  const rest = async () => {
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done) break;
        content += next.value.choices[0]?.delta?.content ?? '';
        finishReason = next.value.choices[0]?.finish_reason ?? finishReason;
      }
      return { ended: 'cleanly' as const, content, finishReason, at: performance.now() };
    } catch (error) {
      return { ended: 'with an error' as const, error: error as Error, content, at: performance.now() };
    }
  };
  return { rest };
}

async function postChat(): Promise<Response> {
  return fetch(`${stack.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }),
  });
}

describe('st-agent on SIGTERM', () => {
  it('lets the open answer finish, answers new requests 503 tunnel_draining, and exits 0 right after', async () => {
    const agent = stack.agent;
    const open = await openStream(40, 3);
    const signalled = performance.now();
    agent.child.kill('SIGTERM');
    await waitForEntries(agent, /^draining: the broker routes no new requests here/);

    // A new request during the drain: refused at once, clearly (whether the broker already knew
    // or the agent refused the exchange itself).
    const res = await postChat();
    const body = (await res.json()) as { error: { code: string; message: string; type: string } };
    expect(res.status).toBe(503);
    expect(body.error.code).toBe('tunnel_draining');
    expect(body.error.message).toMatch(/agent .*is stopping/);

    const outcome = await open.rest();
    expect(outcome.ended).toBe('cleanly');
    // All 40 tokens, nothing cut: the mock answers " word" per token.
    expect(outcome.content.trim().split(/\s+/)).toHaveLength(40);
    if (outcome.ended === 'cleanly') expect(outcome.finishReason).toBe('length');

    const exit = await agent.exited;
    const exitedAt = performance.now();
    expect(exit).toEqual({ code: 0, signal: null });
    // Right after the answer ended, far from the 20 s grace period (bounds for a busy machine).
    expect(exitedAt - outcome.at).toBeLessThan(GRACE_MS / 4);
    expect(exitedAt - signalled).toBeLessThan(GRACE_MS / 4);
    const drained = logEntries(agent, /^drained: every open answer finished$/);
    expect(drained).toHaveLength(1);
    expect(drained[0]).toMatchObject({ abandoned: 0 });
  });

  it('exits 0 at once when nothing is open', async () => {
    const agent = stack.agent;
    const started = performance.now();
    const exit = await agent.stop('SIGTERM', 15_000);
    expect(exit).toEqual({ code: 0, signal: null });
    // "At once" against a 20 s grace: 1.2 s was seen with the other core busy.
    expect(performance.now() - started).toBeLessThan(GRACE_MS / 4);
  });

  it('exits at once on a second signal, cutting the open answer visibly', async () => {
    const agent = stack.agent;
    const open = await openStream(100, 2);
    agent.child.kill('SIGTERM');
    await waitForEntries(agent, /^draining: the broker routes no new requests here/);
    const started = performance.now();
    agent.child.kill('SIGTERM');
    const exit = await agent.exited;
    // At once, not after the 20 s grace (1159 ms was seen with the other core busy).
    expect(performance.now() - started).toBeLessThan(GRACE_MS / 4);
    expect(exit.code).not.toBe(0);
    expect((await open.rest()).ended).toBe('with an error');
  });
});
