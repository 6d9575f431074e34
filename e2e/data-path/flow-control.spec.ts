import { type ClientRequest, type IncomingMessage, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, cleanupAll, rssBytes, startStack, waitUntil } from '@st/testing';
import { MODEL, openai, readChatStream, userMessage } from './support';

const MB = 1024 * 1024;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(cleanupAll);

/** Starts a streamed chat and hands back the response without reading its body. */
function openStalledStream(maxTokens: number): Promise<{ req: ClientRequest; res: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = request(`${stack.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
    });
    req.once('error', reject);
    req.once('response', (res) => {
      res.pause();
      resolve({ req, res });
    });
    req.end(JSON.stringify({ model: MODEL, messages: userMessage('a very long answer'), max_tokens: maxTokens, stream: true }));
  });
}

describe('flow control', () => {
  it('holds a reader that stopped reading without stalling others or filling memory', async () => {
    const pids = { agent: stack.agent.pid, server: stack.server.process.pid };
    // Warm both processes up so the baseline includes their steady-state heaps.
    const client = openai(stack.baseURL, stack.apiKey);
    await Promise.all(Array.from({ length: 20 }, (_, i) => client.chat.completions.create({ model: MODEL, messages: userMessage(`warm ${i}`), max_tokens: 50 })));
    const baseline = { agent: await rssBytes(pids.agent), server: await rssBytes(pids.server) };
    const before = await stack.mock.stats();

    // ~190 MB of answer at full speed (no token delay); the client never reads a byte of it.
    const stalled = await openStalledStream(1_000_000);
    expect(stalled.res.statusCode).toBe(200);
    await waitUntil('the huge generation to start', async () => (await stack.mock.stats()).active === 1, 2_000);

    // Others on the same agent still get through, promptly and correctly.
    const direct = openai(`${stack.mockUrl}/v1`, 'not-needed');
    const started = performance.now();
    const others = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const params = { model: MODEL, messages: userMessage(`meanwhile ${i}`), max_tokens: 100 };
        const [streamed, expected] = await Promise.all([
          client.chat.completions.create({ ...params, stream: true }).then(readChatStream),
          direct.chat.completions.create(params),
        ]);
        return { content: streamed.content, expected: expected.choices[0].message.content };
      }),
    );
    expect(performance.now() - started).toBeLessThan(5_000);
    for (const o of others) expect(o.content).toBe(o.expected);

    // For a few seconds the stalled answer stays open and memory stays flat. Without
    // back-pressure the answer piles up in a hop at tens of MB per second.
    const peak = { agent: 0, server: 0 };
    for (let i = 0; i < 16; i++) {
      await new Promise((r) => setTimeout(r, 250));
      peak.agent = Math.max(peak.agent, await rssBytes(pids.agent));
      peak.server = Math.max(peak.server, await rssBytes(pids.server));
    }
    const growth = { agentMB: (peak.agent - baseline.agent) / MB, serverMB: (peak.server - baseline.server) / MB };
    expect(growth.agentMB, JSON.stringify(growth)).toBeLessThan(100);
    expect(growth.serverMB, JSON.stringify(growth)).toBeLessThan(100);

    // Back-pressure reached the model server: its generation is still running, not finished
    // (unthrottled, it would have written its whole answer in well under these seconds).
    const during = await stack.mock.stats();
    expect(during.active).toBe(1);
    // The 20 answers through the tunnel and their 20 direct twins; not the stalled one.
    expect(during.completed).toBe(before.completed + 40);

    // Reading again makes the answer flow again.
    let bytes = 0;
    await new Promise<void>((resolve) => {
      stalled.res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > 4 * MB) resolve();
      });
      stalled.res.resume();
    });
    stalled.req.destroy();
    await waitUntil('the abandoned generation to be aborted', async () => (await stack.mock.stats()).aborted === before.aborted + 1, 2_000);
    expect((await stack.mock.stats()).active).toBe(0);
  });
});
