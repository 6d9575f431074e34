// One user flooding small chat completions (64 at a time, as fast as they are answered) through
// their own tunnel and the unified /v1: over any per-user rate limit, which should answer 429.
import { Pool } from 'undici';
import { fmtStatuses } from './deep-json.mjs';

export async function requestFlood(t, { durationMs, concurrency = 64 }) {
  const pool = new Pool(t.gateway, { connections: concurrency, pipelining: 1 });
  const statuses = {};
  let retryAfter;
  const body = JSON.stringify({ model: 'mock-llama-3-8b', messages: [{ role: 'user', content: 'flood' }], max_tokens: 8 });
  const until = Date.now() + durationMs;
  const worker = async () => {
    while (Date.now() < until) {
      try {
        const res = await pool.request({
          method: 'POST',
          path: `/t/${t.attacker.tunnelId}/v1/chat/completions`,
          headers: { authorization: `Bearer ${t.attacker.apiKey}`, 'content-type': 'application/json' },
          body,
        });
        await res.body.dump();
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        if (res.statusCode === 429) retryAfter = res.headers['retry-after'];
      } catch (err) {
        statuses[err.code ?? 'error'] = (statuses[err.code ?? 'error'] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await pool.close();
  const total = Object.values(statuses).reduce((a, b) => a + b, 0);
  return { outcome: `${total} requests (${Math.round(total / (durationMs / 1000))}/s) → ${fmtStatuses(statuses)}${retryAfter ? `, Retry-After ${retryAfter}` : ''}` };
}
