import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplicaStack, type Tenant, waitUntil } from '@st/testing';
import { MODEL, openai } from './support';

// Usage accounting in the split layout: two st-gateway replicas count answers and write them to
// PostgreSQL; st-discovery serves the sums (UsageService over gRPC for stctl, Connect for the
// console). Each user sees only their own, the admin everyone's.

interface UsageLine {
  userId?: string;
  tunnelId: string | null;
  model: string | null;
  promptTokens: number;
  completionTokens: number;
  requests: number;
}

let stack: ReplicaStack;
let alice: Tenant;
let bob: Tenant;
/** What alice's answers said their usage was, as the client saw it. */
const aliceSaw = { promptTokens: 0, completionTokens: 0, requests: 0 };

const usageOf = (env: Record<string, string>, args: string[] = []) => stack.stctlJson<{ usage: UsageLine[] }>(['usage', ...args], env);

/** Waits until the gateways' batches (written about once a second) show `requests`. */
async function usageWith(env: Record<string, string>, requests: number, args: string[] = []): Promise<UsageLine[]> {
  let last: UsageLine[] = [];
  try {
    return await waitUntil(
      `usage to count ${requests} requests`,
      async () => {
        last = (await usageOf(env, args)).usage;
        return last.reduce((n, r) => n + r.requests, 0) === requests ? last : undefined;
      },
      20_000,
      200,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last answer ${JSON.stringify(last)}`);
  }
}

beforeAll(async () => {
  stack = await ReplicaStack.start({ brokers: 1, gateways: 2 });
  [alice, bob] = await Promise.all([stack.createTenant('alice'), stack.createTenant('bob')]);
  stack.startAgent(alice.agentToken, { ST_BROKER_CONNECTIONS: 1 });
  stack.startAgent(bob.agentToken, { ST_BROKER_CONNECTIONS: 1 });
  await Promise.all([stack.waitForStreams(alice, { count: 1 }), stack.waitForStreams(bob, { count: 1 })]);
}, 240_000);

afterAll(async () => {
  await stack?.stop();
});

describe('usage in the split layout', () => {
  it('adds up plain and streamed answers served by either gateway, per user, read from st-discovery', async () => {
    const [viaFirst, viaSecond] = stack.baseURLs(alice.tunnelId).map((url) => openai(url, alice.apiKey));
    const plain = await viaFirst.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'counted by the first gateway' }], max_tokens: 5 });
    aliceSaw.promptTokens += plain.usage!.prompt_tokens;
    aliceSaw.completionTokens += plain.usage!.completion_tokens;
    aliceSaw.requests += 1;

    // Streamed without include_usage: the gateway asks for usage and the client sees none of it.
    const stream = await viaSecond.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'streamed through the second gateway' }], max_tokens: 7, stream: true });
    let completionChunks = 0;
    for await (const chunk of stream) {
      expect(chunk.usage ?? undefined, 'a usage chunk the client did not ask for').toBeUndefined();
      if (chunk.choices[0]?.delta?.content) completionChunks += 1;
    }
    expect(completionChunks).toBe(7);
    // The mock counts one completion token per content chunk; its prompt count matches a plain call.
    const sameAsPlain = await viaFirst.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'streamed through the second gateway' }], max_tokens: 7 });
    aliceSaw.promptTokens += sameAsPlain.usage!.prompt_tokens * 2;
    aliceSaw.completionTokens += 7 + sameAsPlain.usage!.completion_tokens;
    aliceSaw.requests += 2;

    const bobAnswer = await openai(stack.baseURLs(bob.tunnelId)[1], bob.apiKey).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'bob' }], max_tokens: 3 });

    const aliceRows = await usageWith({ ST_API_KEY: alice.apiKey }, aliceSaw.requests);
    expect(aliceRows).toEqual([expect.objectContaining({ tunnelId: alice.tunnelId, model: MODEL, ...aliceSaw })]);
    expect(aliceRows[0].userId).toBeUndefined();

    const bobRows = await usageWith({ ST_API_KEY: bob.apiKey }, 1);
    expect(bobRows).toEqual([
      expect.objectContaining({ tunnelId: bob.tunnelId, model: MODEL, promptTokens: bobAnswer.usage!.prompt_tokens, completionTokens: bobAnswer.usage!.completion_tokens, requests: 1 }),
    ]);

    const everyone = await usageWith({ ST_ADMIN_TOKEN: stack.adminToken }, aliceSaw.requests + 1, ['--all-users']);
    expect(new Set(everyone.map((r) => r.userId))).toEqual(new Set([alice.userId, bob.userId]));
    const refused = await stack.stctl(['usage', '--all-users', '--json'], { ST_API_KEY: alice.apiKey });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/admin/i);
  }, 120_000);

  it("serves the console's Connect face of UsageService from st-discovery, to the key's holder only", async () => {
    await usageWith({ ST_API_KEY: alice.apiKey }, aliceSaw.requests);
    const connect = (apiKey: string) =>
      fetch(`${stack.discoveryHttpUrl}/sessiontunnel.v1.UsageService/GetUsage`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'connect-protocol-version': '1' },
        body: '{}',
      });
    const res = await connect(alice.apiKey);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { usage?: { tunnelId: string; promptTokens: string; completionTokens: string; requests: string }[] };
    expect(body.usage).toEqual([
      expect.objectContaining({ tunnelId: alice.tunnelId, promptTokens: String(aliceSaw.promptTokens), completionTokens: String(aliceSaw.completionTokens), requests: String(aliceSaw.requests) }),
    ]);

    const wrongKey = await connect(`${alice.apiKey.slice(0, -4)}xxxx`);
    expect(wrongKey.status).toBe(401);
    expect(((await wrongKey.json()) as { code: string }).code).toBe('unauthenticated');
  }, 60_000);
});
