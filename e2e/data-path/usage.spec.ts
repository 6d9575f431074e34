import { randomBytes } from 'node:crypto';
import type OpenAI from 'openai';
import { APIUserAbortError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CallerApi,
  ControlPlaneApi,
  type Stack,
  cleanupAll,
  mockStats,
  runStctl,
  startAgent,
  startStack,
  stctlJson,
  waitForTunnel,
  waitUntil,
} from '@st/testing';
import { MODEL, openai, postJson, readChatStream, userMessage } from './support';

/**
 * Usage accounting end to end: the official OpenAI client talks to tunnels of two users; the
 * gateway counts every answer's usage (plain, streamed with and without include_usage, retried
 * without stream_options, cut short, embeddings) and `stctl usage` reads the sums back, each user
 * only their own, the admin everyone's.
 */

const ADMIN_TOKEN = `admin-${randomBytes(16).toString('hex')}`;

interface UsageLine {
  userId?: string;
  tunnel: string | null;
  tunnelId: string | null;
  model: string | null;
  promptTokens: number;
  completionTokens: number;
  requests: number;
}

let stack: Stack;
let grpcAddress: string;
let api: ControlPlaneApi;
let alice: OpenAI;
let direct: OpenAI;
let bob: { userId: string; apiKey: string; tunnelId: string; client: OpenAI };

/** What alice's requests should add up to, as the model server itself reported it. */
const expected = { promptTokens: 0, completionTokens: 0, requests: 0 };

function usageOf(env: Record<string, string>, args: string[] = []): Promise<{ usage: UsageLine[] }> {
  return stctlJson<{ usage: UsageLine[] }>(grpcAddress, ['usage', ...args], env);
}

/** Waits until the gateway's batch (written once a second) shows `requests` for the key's holder. */
async function usageWith(env: Record<string, string>, requests: number): Promise<UsageLine[]> {
  return waitUntil(
    `usage to count ${requests} requests`,
    async () => {
      const { usage } = await usageOf(env);
      return usage.reduce((n, r) => n + r.requests, 0) === requests ? usage : undefined;
    },
    10_000,
    200,
  );
}

/** The usage the model server reports for `params` when asked straight (with include_usage). */
async function directUsage(params: Omit<OpenAI.Chat.ChatCompletionCreateParamsStreaming, 'stream'>): Promise<OpenAI.CompletionUsage> {
  const { chunks } = await readChatStream(await direct.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } }));
  return chunks.at(-1)!.usage!;
}

function expect1(usage: { prompt_tokens: number; completion_tokens?: number }): void {
  expected.promptTokens += usage.prompt_tokens;
  expected.completionTokens += usage.completion_tokens ?? 0;
  expected.requests += 1;
}

beforeAll(async () => {
  stack = await startStack({ serverEnv: { ST_ADMIN_TOKEN: ADMIN_TOKEN } });
  grpcAddress = `127.0.0.1:${stack.grpcPort}`;
  alice = openai(stack.baseURL, stack.apiKey);
  direct = openai(`${stack.mockUrl}/v1`, 'not-needed');
  api = new ControlPlaneApi(stack.grpcPort);
  const created = await api.as(ADMIN_TOKEN).createUser('bob');
  const asBob: CallerApi = api.as(created.apiKey);
  const session = await asBob.startSession('bobs-session');
  const tunnel = await asBob.createTunnel({ sessionId: session.id, name: 'bob-gpu', remoteHost: '127.0.0.1', remotePort: stack.mock.port, openai: true });
  await startAgent({ ST_BROKER_URL: stack.brokerUrl, ST_TUNNEL_TOKEN: tunnel.agentToken, ST_UPSTREAM_URL: stack.mockUrl });
  const baseURL = `${stack.publicUrl}/t/${tunnel.tunnel!.id}/v1`;
  await waitForTunnel(baseURL, created.apiKey);
  bob = { userId: created.user!.id, apiKey: created.apiKey, tunnelId: tunnel.tunnel!.id, client: openai(baseURL, created.apiKey) };
});

afterAll(async () => {
  api?.close();
  await cleanupAll();
});

describe('usage accounting', () => {
  it('counts a plain answer from its usage object', async () => {
    const answer = await alice.chat.completions.create({ model: MODEL, messages: userMessage('count my plain tokens please'), max_tokens: 5 });
    expect(answer.usage?.completion_tokens).toBe(5);
    expect1(answer.usage!);
  });

  it('counts a streamed answer whose caller asked for usage, which the caller still gets', async () => {
    const { chunks } = await readChatStream(
      await alice.chat.completions.create({ model: MODEL, messages: userMessage('stream with usage'), max_tokens: 7, stream: true, stream_options: { include_usage: true } }),
    );
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage?.completion_tokens).toBe(7);
    expect1(last.usage!);
  });

  it('counts a streamed answer whose caller did not ask, who sees no usage chunk and no usage fields', async () => {
    const params = { model: MODEL, messages: userMessage('stream without asking for usage'), max_tokens: 9 };
    const { chunks, content } = await readChatStream(await alice.chat.completions.create({ ...params, stream: true }));
    const plain = await readChatStream(await direct.chat.completions.create({ ...params, stream: true }));
    expect(content).toBe(plain.content);
    expect(chunks.length).toBe(plain.chunks.length);
    expect(chunks.every((c) => c.choices.length > 0 && !('usage' in c))).toBe(true);
    expect1(await directUsage(params));
  });

  // vLLM's events (the mock's default) carry no usage member but the usage event; OpenAI's (and
  // some other servers') carry `"usage":null` in each, which the gateway must strip as well.
  it.each([
    ['vLLM', {}],
    ['OpenAI', { 'x-mock-usage-null': '1' }],
  ])("leaves the caller's bytes as the model server writes them without include_usage (%s's events)", async (_style, headers) => {
    const body = { model: MODEL, messages: userMessage('the very same bytes'), max_tokens: 6, stream: true };
    const normalise = (text: string) => text.replace(/"id":"[^"]+"/g, '"id":"X"').replace(/"created":\d+/g, '"created":0');
    const [viaTunnel, viaModel] = await Promise.all([
      postJson(`${stack.baseURL}/chat/completions`, stack.apiKey, body, headers).then((r) => r.text()),
      postJson(`${stack.mockUrl}/v1/chat/completions`, undefined, body, headers).then((r) => r.text()),
    ]);
    expect(normalise(viaTunnel)).toBe(normalise(viaModel));
    expect(viaTunnel).not.toContain('usage');
    expect1(await directUsage(body));
  });

  it('asks once more without stream_options when the model server refuses them, and counts the request', async () => {
    const before = await mockStats(stack.mockUrl);
    const { content } = await readChatStream(
      await alice.chat.completions.create(
        { model: MODEL, messages: userMessage('an older model server'), max_tokens: 4, stream: true },
        { headers: { 'x-mock-refuse-stream-options': '1' } },
      ),
    );
    expect(content).toMatch(/^( \w+){4}$/);
    // The refusal and the retry both reached the model server.
    expect((await mockStats(stack.mockUrl)).requests - before.requests).toBe(2);
    // Its usage is unknown (the retry could not ask for it): counted as a request without tokens.
    expect1({ prompt_tokens: 0, completion_tokens: 0 });
  });

  it('counts an answer the caller cut short', async () => {
    const before = await mockStats(stack.mockUrl);
    const controller = new AbortController();
    const stream = await alice.chat.completions.create(
      { model: MODEL, messages: userMessage('a long answer cut short'), max_tokens: 500, stream: true },
      { headers: { 'x-mock-token-delay-ms': '20' }, signal: controller.signal },
    );
    let seen = 0;
    // openai v6 ends the iteration quietly on its own abort (v4 threw APIUserAbortError).
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta?.content && ++seen === 3) controller.abort();
      }
    } catch (err) {
      expect(err).toBeInstanceOf(APIUserAbortError);
    }
    expect(seen).toBe(3);
    await waitUntil('the model server to see the abort', async () => (await mockStats(stack.mockUrl)).aborted > before.aborted);
    expect1({ prompt_tokens: 0, completion_tokens: 0 });
  });

  it('counts an answer the model server broke off', async () => {
    const stream = await alice.chat.completions.create(
      { model: MODEL, messages: userMessage('a crash mid-answer'), max_tokens: 50, stream: true, stream_options: { include_usage: true } },
      { headers: { 'x-mock-error': 'midstream' } },
    );
    await expect(readChatStream(stream)).rejects.toThrow();
    expect1({ prompt_tokens: 0, completion_tokens: 0 });
  });

  it('counts embeddings (prompt tokens only)', async () => {
    const answer = await alice.embeddings.create({ model: MODEL, input: ['three words here', 'and two'] });
    expect(answer.usage.prompt_tokens).toBeGreaterThan(0);
    expect1({ prompt_tokens: answer.usage.prompt_tokens, completion_tokens: 0 });
  });

  it('adds it all up in stctl usage --json, per tunnel and model', async () => {
    const usage = await usageWith({ ST_API_KEY: stack.apiKey }, expected.requests);
    expect(usage).toEqual([{ tunnel: 'demo', tunnelId: stack.tunnelId, model: MODEL, ...expected }]);
    const byModel = await usageOf({ ST_API_KEY: stack.apiKey }, ['--by', 'model', '--since', '1h']);
    expect(byModel.usage).toEqual([{ tunnel: null, tunnelId: null, model: MODEL, ...expected }]);
    const future = await usageOf({ ST_API_KEY: stack.apiKey }, ['--since', new Date(Date.now() + 2 * 3_600_000).toISOString()]);
    expect(future.usage).toEqual([]);
  });

  it("keeps each user's usage their own; the admin sees both with --all-users", async () => {
    const answer = await bob.client.chat.completions.create({ model: MODEL, messages: userMessage('bob asks'), max_tokens: 3 });
    const bobs = await usageWith({ ST_API_KEY: bob.apiKey }, 1);
    expect(bobs).toEqual([
      { tunnel: 'bob-gpu', tunnelId: bob.tunnelId, model: MODEL, promptTokens: answer.usage!.prompt_tokens, completionTokens: 3, requests: 1 },
    ]);
    expect((await usageOf({ ST_API_KEY: stack.apiKey })).usage.map((r) => r.tunnelId)).toEqual([stack.tunnelId]);

    const all = await usageOf({ ST_ADMIN_TOKEN: ADMIN_TOKEN }, ['--all-users', '--by', 'tunnel']);
    expect(all.usage.map((r) => [r.userId, r.tunnelId, r.requests]).sort()).toEqual(
      [
        [stack.userId, stack.tunnelId, expected.requests],
        [bob.userId, bob.tunnelId, 1],
      ].sort(),
    );
    const refused = await runStctl(grpcAddress, ['usage', '--all-users'], { ST_ADMIN_TOKEN: bob.apiKey });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/admin/);
  });

  it('serves GetUsage over Connect on the gateway port, with the same rules', async () => {
    const url = `${stack.publicUrl}/sessiontunnel.v1.UsageService/GetUsage`;
    const res = await postJson(url, stack.apiKey, { groupBy: 'USAGE_GROUPING_TUNNEL' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { usage: { tunnelId: string; tunnelName: string; promptTokens: string; requests: string }[] };
    expect(body.usage).toEqual([
      expect.objectContaining({ tunnelId: stack.tunnelId, tunnelName: 'demo', promptTokens: String(expected.promptTokens), requests: String(expected.requests) }),
    ]);
    const denied = await postJson(url, stack.apiKey, { allUsers: true });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { code: string }).code).toBe('permission_denied');
  });
});
