import { ControlPlaneApi, type Stack, startAgent, stctlJson, waitForTunnel, waitUntil } from '@st/testing';
import type { ChatBody } from './browser';

/** Records, in the page, each distinct text of the newest answer while it streams. */
export const OBSERVE_ANSWER = `(() => {
  const log = document.querySelector('[role=log]');
  window.__snapshots = [];
  new MutationObserver(() => {
    const answers = log.querySelectorAll('article[data-role=assistant]');
    const last = answers[answers.length - 1];
    if (!last) return;
    const text = last.querySelector('.text').textContent;
    const seen = window.__snapshots;
    if (seen[seen.length - 1] !== text) seen.push(text);
  }).observe(log, { subtree: true, childList: true, characterData: true });
})()`;

export interface OtherUser {
  api: ControlPlaneApi;
  apiKey: string;
  tunnelName: string;
}

/**
 * A second user (made with the admin token, as e2e/data-path/usage.spec.ts does) with a tunnel
 * to the same mock and one answer of their own: usage and providers the demo user must not see.
 */
export async function startOtherUser(stack: Stack, adminToken: string, model: string): Promise<OtherUser> {
  const api = new ControlPlaneApi(stack.grpcPort);
  const created = await api.as(adminToken).createUser('bob');
  const asBob = api.as(created.apiKey);
  const session = await asBob.startSession('bobs-session');
  const tunnelName = 'bob-gpu';
  const tunnel = await asBob.createTunnel({ sessionId: session.id, name: tunnelName, remoteHost: '127.0.0.1', remotePort: stack.mock.port, openai: true });
  await startAgent({ ST_BROKER_URL: stack.brokerUrl, ST_TUNNEL_TOKEN: tunnel.agentToken, ST_UPSTREAM_URL: stack.mockUrl });
  const baseURL = `${stack.publicUrl}/t/${tunnel.tunnel!.id}/v1`;
  await waitForTunnel(baseURL, created.apiKey);
  const res = await fetch(`${baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${created.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'bob asks' }], max_tokens: 3 }),
  });
  if (res.status !== 200) throw new Error(`bob's chat failed: ${res.status} ${await res.text()}`);
  await res.text();
  return { api, apiKey: created.apiKey, tunnelName };
}

/** Waits until `stctl usage` (as the key's holder) counts `requests` requests (written once a second). */
export async function waitForUsage(grpc: string, apiKey: string, requests: number): Promise<void> {
  await waitUntil(
    `stctl usage to count ${requests} requests`,
    async () => {
      const { usage } = await stctlJson<{ usage: { requests: number }[] }>(grpc, ['usage'], { ST_API_KEY: apiKey });
      return usage.reduce((n, r) => n + r.requests, 0) === requests;
    },
    15_000,
    200,
  );
}

/** The mock's whole answer to a chat the page sent, asked directly (same prompt: same words). */
export async function mockAnswer(mockUrl: string, body: ChatBody): Promise<string> {
  const res = await fetch(`${mockUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-mock-token-delay-ms': '0' },
    body: JSON.stringify({ model: body.model, messages: body.messages }),
  });
  const answer = (await res.json()) as { choices: { message: { content: string } }[] };
  return answer.choices[0].message.content;
}

export function squash(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
