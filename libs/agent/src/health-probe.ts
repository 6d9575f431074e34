import type { HealthReport } from '@st/proto';
import type { UpstreamClient } from './upstream-client';

/** A probe that gets no answer within this long counts as unhealthy (a loading server may hang). */
const PROBE_TIMEOUT_MS = 5_000;

/**
 * Asks the model server for its model list, as AI Chat would. A server that refuses connections
 * or answers 503 is still loading: that is `healthy: false` with the reason, never an error.
 */
export async function probeModelServer(upstream: UpstreamClient, headers: Record<string, string>): Promise<HealthReport> {
  try {
    const response = await upstream.pool.request({
      path: '/v1/models',
      method: 'GET',
      headers: { accept: 'application/json', ...headers },
      headersTimeout: PROBE_TIMEOUT_MS,
      bodyTimeout: PROBE_TIMEOUT_MS,
    });
    const text = await response.body.text();
    if (response.statusCode < 200 || response.statusCode >= 300) {
      return unhealthy(`GET ${upstream.origin}/v1/models answered ${response.statusCode}`);
    }
    const models = modelIds(text);
    if (!models) return unhealthy(`GET ${upstream.origin}/v1/models did not return an OpenAI model list`);
    return { healthy: true, models, error: '' };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return unhealthy(`the model server at ${upstream.origin} is unreachable (${e.code ?? e.message ?? 'error'})`);
  }
}

function modelIds(text: string): string[] | undefined {
  try {
    const body = JSON.parse(text) as { data?: { id?: unknown }[] };
    if (!Array.isArray(body.data)) return undefined;
    return body.data.map((m) => m.id).filter((id): id is string => typeof id === 'string');
  } catch {
    return undefined;
  }
}

function unhealthy(error: string): HealthReport {
  return { healthy: false, models: [], error };
}
