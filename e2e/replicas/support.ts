import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { expect } from 'vitest';
import { type ManagedProcess, waitUntil } from '@st/testing';

export const MODEL = 'mock-llama-3-8b';

/** The official client without retries: a failure must show, not be retried away. */
export function openai(baseURL: string, apiKey: string): OpenAI {
  return new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });
}

/** One connection of `stctl tunnels get --json`. */
export interface ConnectionJson {
  brokerId: string;
  streamId: string;
  since: string | null;
  healthy: boolean;
  draining: boolean;
}

/** What `stctl tunnels get --json` prints, as far as these tests read it. */
export interface TunnelJson {
  id: string;
  name: string;
  status: string;
  connections: ConnectionJson[];
}

/** A chat completion with raw fetch, for status and body checks the SDK would hide. */
export function postChat(baseURL: string, apiKey: string, body: Record<string, unknown> = { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 }): Promise<Response> {
  return fetch(`${baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** The status and body of a chat completion. */
export async function chatAnswer(baseURL: string, apiKey: string): Promise<{ status: number; text: string }> {
  const res = await postChat(baseURL, apiKey);
  return { status: res.status, text: await res.text() };
}

/** The status of a chat completion (its body read, so the connection is reused). */
export async function chatStatus(baseURL: string, apiKey: string): Promise<number> {
  return (await chatAnswer(baseURL, apiKey)).status;
}

/** `{"status":"ok"}` or `{"status":"degraded","reason":…}` of GET <origin>/readyz. */
export async function readiness(origin: string): Promise<{ status: string; reason?: string }> {
  const res = await fetch(`${origin}/readyz`);
  return (await res.json()) as { status: string; reason?: string };
}

/** Waits until GET <origin>/readyz says `status`; the failure quotes its last answer. */
export async function waitForReadiness(origin: string, status: 'ok' | 'degraded', timeoutMs: number): Promise<void> {
  let last: unknown;
  try {
    await waitUntil(`${origin}/readyz to say ${status}`, async () => (last = await readiness(origin)) && (last as { status: string }).status === status, timeoutMs, 100);
  } catch (err) {
    throw new Error(`${(err as Error).message}; last answer ${JSON.stringify(last)}`);
  }
}

/** The OpenAI error envelope of an answer, after checking its status and shape. */
export async function openAIError(res: Response, status: number): Promise<{ message: string; type: string; code: string | number | null }> {
  const text = await res.text();
  expect(res.status, `status of ${text}`).toBe(status);
  const body = JSON.parse(text) as { error: { message: string; type: string; code: string | number | null; param: unknown } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  return body.error;
}

/** st-agent's JSON log lines from index `from` on. */
export function agentLog(agent: ManagedProcess, from = 0): Record<string, unknown>[] {
  return agent.lines.slice(from).flatMap((l) => {
    if (!l.text.startsWith('{')) return [];
    try {
      return [JSON.parse(l.text) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/** An id of the store's shape ("t-" and 12 base32 characters) that names nothing. */
export function randomTunnelId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return `t-${[...randomBytes(12)].map((b) => alphabet[b & 31]).join('')}`;
}
