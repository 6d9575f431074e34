import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PrometheusText, type Stack, cleanupAll, metricsUrlOf, scrapeMetrics, startServer, startStack, waitUntil } from '@st/testing';
import { MODEL, expectOpenAIError, openai, postJson, readChatStream, userMessage } from './support';

// Prometheus metrics of st-server (every role on one port) and st-agent, scraped over HTTP and
// read by a strict parser of the text format, as the traffic through the real processes moves
// them. Counters are compared before and after, so the order of the tests does not matter except
// for the last two (they restart the broker and stop the agent).

const MAX_BODY = 64 * 1024;
let stack: Stack;
let serverMetrics: string;
let agentMetrics: string;

beforeAll(async () => {
  stack = await startStack({
    serverEnv: { ST_METRICS_PORT: 0, ST_MAX_BODY: MAX_BODY, ST_LIMIT_TUNNEL_CONCURRENCY: 2 },
    agentEnv: { ST_AGENT_METRICS_ADDR: '127.0.0.1:0' },
  });
  serverMetrics = await metricsUrlOf(stack.server.process);
  agentMetrics = await metricsUrlOf(stack.agent);
});

afterAll(async () => {
  await stack?.stop();
  await cleanupAll();
});

const requests = (m: PrometheusText, kind: string, code: string) => m.value('st_gateway_requests_total', { kind, code });

describe('metrics', () => {
  it('serves /metrics on its own ports as Prometheus text, every name prefixed st_', async () => {
    for (const url of [serverMetrics, agentMetrics]) {
      expect(new URL(url).port).not.toBe(new URL(stack.publicUrl).port);
      const m = await scrapeMetrics(url);
      const names = [...m.families.keys()];
      expect(names.length).toBeGreaterThan(10);
      expect(names.filter((n) => !n.startsWith('st_'))).toEqual([]);
      // Node's default metrics, prefixed.
      expect(m.family('st_process_cpu_user_seconds_total')?.type).toBe('counter');
      expect(m.family('st_nodejs_eventloop_lag_seconds')?.type).toBe('gauge');
      for (const f of m.families.values()) expect(f.help, `HELP of ${f.name}`).toBeTruthy();
    }
    const server = await scrapeMetrics(serverMetrics);
    for (const name of [
      'st_gateway_requests_total',
      'st_gateway_request_duration_seconds',
      'st_gateway_time_to_first_byte_seconds',
      'st_gateway_stream_tokens_per_second',
      'st_limit_refusals_total',
      'st_broker_agent_streams',
      'st_broker_active_exchanges',
      'st_broker_stream_queued_bytes',
      'st_broker_credit_stalls_total',
      'st_broker_tunnels',
    ]) {
      expect(server.family(name), name).toBeDefined();
    }
    const agent = await scrapeMetrics(agentMetrics);
    for (const name of ['st_agent_streams', 'st_agent_active_exchanges', 'st_agent_credit_stalls_total', 'st_agent_reconnects_total']) {
      expect(agent.family(name), name).toBeDefined();
    }
  });

  it('is not reachable on the public gateway port: 404 unknown_url', async () => {
    const error = await expectOpenAIError(await fetch(`${stack.publicUrl}/metrics`), 404);
    expect(error.code).toBe('unknown_url');
  });

  it('counts requests by kind and code, their latency, time to first byte and the tokens per second of streams', async () => {
    const before = await scrapeMetrics(serverMetrics);
    const client = openai(stack.baseURL, stack.apiKey);
    await client.chat.completions.create({ model: MODEL, messages: userMessage('plain'), max_tokens: 4 });
    // 20 ms between tokens, so the stream's rate is measurable (about 50 per second).
    const stream = await client.chat.completions.create(
      { model: MODEL, messages: userMessage('streamed'), max_tokens: 6, stream: true },
      { headers: { 'x-mock-token-delay-ms': '20' } },
    );
    const { content } = await readChatStream(stream);
    expect(content.length).toBeGreaterThan(0);
    await client.completions.create({ model: MODEL, prompt: 'once', max_tokens: 3 });
    await client.embeddings.create({ model: MODEL, input: 'alpha' });
    await client.models.list();
    const wrongKey = await fetch(`${stack.baseURL}/models`, { headers: { authorization: 'Bearer st_key_nope' } });
    expect(wrongKey.status).toBe(401);
    const missing = await fetch(`${stack.publicUrl}/nowhere`);
    expect(missing.status).toBe(404);

    const after = await scrapeMetrics(serverMetrics);
    const moved = (kind: string, code: string) => requests(after, kind, code) - requests(before, kind, code);
    expect(moved('chat', '200')).toBe(2);
    expect(moved('completions', '200')).toBe(1);
    expect(moved('embeddings', '200')).toBe(1);
    expect(moved('models', '200')).toBe(1);
    expect(moved('models', '401')).toBe(1);
    expect(moved('other', '404')).toBe(1);
    const count = (m: PrometheusText, name: string, kind: string) => m.value(`${name}_count`, { kind });
    expect(count(after, 'st_gateway_request_duration_seconds', 'chat') - count(before, 'st_gateway_request_duration_seconds', 'chat')).toBe(2);
    expect(count(after, 'st_gateway_time_to_first_byte_seconds', 'chat') - count(before, 'st_gateway_time_to_first_byte_seconds', 'chat')).toBe(2);
    // One streamed answer with a rate; its value is plausible for 20 ms between tokens.
    const rates = count(after, 'st_gateway_stream_tokens_per_second', 'chat') - count(before, 'st_gateway_stream_tokens_per_second', 'chat');
    expect(rates).toBe(1);
    const rateSum = after.value('st_gateway_stream_tokens_per_second_sum', { kind: 'chat' }) - before.value('st_gateway_stream_tokens_per_second_sum', { kind: 'chat' });
    expect(rateSum).toBeGreaterThan(2);
    expect(rateSum).toBeLessThan(1000);
  });

  it('counts a refusal by the limit that made it: a body over ST_MAX_BODY, a tunnel over its concurrency', async () => {
    const before = await scrapeMetrics(serverMetrics);
    const big = { model: MODEL, messages: userMessage('x'.repeat(MAX_BODY + 10)) };
    await expectOpenAIError(await postJson(`${stack.baseURL}/chat/completions`, stack.apiKey, big), 413);
    // Two slow answers hold the tunnel's two places; a third request is refused with 429.
    const slow = (n: number) =>
      postJson(`${stack.baseURL}/chat/completions`, stack.apiKey, { model: MODEL, messages: userMessage(`slow ${n}`), max_tokens: 20 }, { 'x-mock-token-delay-ms': '100' });
    const held = [slow(1), slow(2)];
    await waitUntil('two answers open on the broker', async () => (await scrapeMetrics(serverMetrics)).value('st_broker_active_exchanges') === 2, 10_000);
    const agentDuring = await scrapeMetrics(agentMetrics);
    expect(agentDuring.value('st_agent_active_exchanges')).toBe(2);
    await expectOpenAIError(await postJson(`${stack.baseURL}/chat/completions`, stack.apiKey, { model: MODEL, messages: userMessage('third') }), 429);
    for (const res of await Promise.all(held)) expect(res.status).toBe(200);

    const after = await scrapeMetrics(serverMetrics);
    const refused = (limit: string) => after.value('st_limit_refusals_total', { limit }) - before.value('st_limit_refusals_total', { limit });
    expect(refused('max_body')).toBe(1);
    expect(refused('tunnel_concurrency')).toBe(1);
    expect(refused('user_rps')).toBe(0);
    expect(requests(after, 'chat', '413') - requests(before, 'chat', '413')).toBe(1);
    expect(requests(after, 'chat', '429') - requests(before, 'chat', '429')).toBe(1);
    await waitUntil('no answer open on the broker', async () => (await scrapeMetrics(serverMetrics)).value('st_broker_active_exchanges') === 0, 10_000);
  });

  it('counts the agent reconnect after the broker is killed and comes back', async () => {
    const before = await scrapeMetrics(agentMetrics);
    expect(before.value('st_agent_streams', { state: 'connected' })).toBe(1);
    const broker = await scrapeMetrics(serverMetrics);
    expect(broker.value('st_broker_agent_streams')).toBe(1);
    expect(broker.value('st_broker_tunnels', { status: 'running' })).toBe(1);
    expect(broker.value('st_tunnels', { status: 'running' })).toBe(1);
    expect(broker.value('st_tunnels', { status: 'waiting' })).toBe(0);

    const { httpPort, grpcPort, dataDir } = stack.server;
    await stack.server.process.kill();
    await waitUntil('the agent to see its stream lost', async () => (await scrapeMetrics(agentMetrics)).value('st_agent_reconnects_total', { reason: 'lost' }) > before.value('st_agent_reconnects_total', { reason: 'lost' }), 15_000);
    stack.server = await startServer({ ST_HTTP_PORT: httpPort, ST_GRPC_PORT: grpcPort, ST_DATA_DIR: dataDir, ST_METRICS_PORT: 0 });
    serverMetrics = await metricsUrlOf(stack.server.process);
    await waitUntil('the agent to reconnect', async () => (await scrapeMetrics(agentMetrics)).value('st_agent_streams', { state: 'connected' }) === 1, 20_000);
    await waitUntil('the new broker to hold the stream', async () => (await scrapeMetrics(serverMetrics)).value('st_broker_agent_streams') === 1, 10_000);
    const after = await scrapeMetrics(agentMetrics);
    expect(after.value('st_agent_reconnects_total', { reason: 'lost' }) - before.value('st_agent_reconnects_total', { reason: 'lost' })).toBe(1);
  });

  it('shows the live agent streams go to 0 when the agent stops', async () => {
    await stack.agent.stop('SIGTERM', 5_000);
    await waitUntil('no agent stream on the broker', async () => (await scrapeMetrics(serverMetrics)).value('st_broker_agent_streams') === 0, 10_000);
    const m = await scrapeMetrics(serverMetrics);
    expect(m.value('st_broker_tunnels')).toBe(0);
    // The demo tunnel is started and has no agent now: waiting, as `stctl tunnels list` says.
    expect(m.value('st_tunnels', { status: 'running' })).toBe(0);
    expect(m.value('st_tunnels', { status: 'waiting' })).toBe(1);
    expect(m.value('st_tunnels', { status: 'stopped' })).toBe(0);
  });
});
