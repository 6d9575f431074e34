import type { ChatBody } from './browser';

/** One row of the console's usage table, as the test expects to read it. */
export interface UsageTableRow {
  tunnel: string;
  model: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
}

/** A chat the page sent, and how it ended: `stopped` answers are cut before the mock's usage chunk. */
export interface SentChat {
  body: ChatBody;
  outcome: 'done' | 'stopped';
}

/**
 * The usage the mock model reports for `body` when asked straight, streamed with include_usage
 * and no delay (its answers depend on the prompt only: the same tokens as through the console).
 */
export async function mockUsageOf(mockUrl: string, body: ChatBody): Promise<{ promptTokens: number; completionTokens: number }> {
  const res = await fetch(`${mockUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-mock-token-delay-ms': '0' },
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
  });
  if (res.status !== 200) throw new Error(`the mock refused the replay: ${res.status} ${await res.text()}`);
  const events = (await res.text())
    .split('\n')
    .filter((line) => line.startsWith('data: {'))
    .map((line) => JSON.parse(line.slice('data: '.length)) as { usage?: { prompt_tokens: number; completion_tokens: number } | null });
  const usage = events.at(-1)?.usage;
  if (!usage) throw new Error('the mock sent no usage chunk with include_usage');
  return { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens };
}

/**
 * What the usage table should show for `chats` to `tunnel`: one row per model, each chat one
 * request; a finished answer counts the tokens the mock reports for it, a stopped one none (the
 * gateway counts what it saw, and the mock's usage chunk comes last). Sorted by model.
 */
export async function expectedUsage(mockUrl: string, tunnel: string, chats: SentChat[]): Promise<UsageTableRow[]> {
  const rows = new Map<string, UsageTableRow>();
  for (const chat of chats) {
    const row = rows.get(chat.body.model) ?? { tunnel, model: chat.body.model, requests: 0, promptTokens: 0, completionTokens: 0 };
    rows.set(chat.body.model, row);
    row.requests += 1;
    if (chat.outcome === 'stopped') continue;
    const usage = await mockUsageOf(mockUrl, chat.body);
    row.promptTokens += usage.promptTokens;
    row.completionTokens += usage.completionTokens;
  }
  return [...rows.values()].sort((a, b) => a.model.localeCompare(b.model));
}

/** Reads the rendered table's body rows (Tunnel, Model, Requests, Prompt tokens, Completion tokens). */
export function parseUsageTable(cells: string[][]): UsageTableRow[] {
  return cells
    .map(([tunnel, model, requests, promptTokens, completionTokens]) => ({
      tunnel,
      model,
      requests: Number(requests),
      promptTokens: Number(promptTokens),
      completionTokens: Number(completionTokens),
    }))
    .sort((a, b) => a.model.localeCompare(b.model));
}
