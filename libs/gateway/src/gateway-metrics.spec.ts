import { EventEmitter } from 'node:events';
import type { Server, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ExchangeSink } from '@st/broker';
import { MetricsRegistry } from '@st/metrics';
import { parsePrometheusText } from '@st/testing';
import { TunnelError } from '@st/tunnel-protocol';
import { GatewayMetrics } from './gateway-metrics';
import { NO_GATEWAY_METER } from './gateway-meter';
import { tooLarge } from './request-body';

/** The parts of a ServerResponse the meter reads. */
function fakeResponse(): ServerResponse & { finish(status: number): void; abort(): void } {
  const res = new EventEmitter() as unknown as ServerResponse & { finish(status: number): void; abort(): void };
  const state = res as unknown as { statusCode: number; writableFinished: boolean };
  state.statusCode = 200;
  state.writableFinished = false;
  res.finish = (status: number) => {
    state.statusCode = status;
    state.writableFinished = true;
    res.emit('close');
  };
  res.abort = () => res.emit('close');
  return res;
}

const recorder = () => {
  const calls: string[] = [];
  const sink: ExchangeSink = {
    head: (status) => calls.push(`head ${status}`),
    data: (chunk, end) => calls.push(`data ${chunk.length}${end ? ' end' : ''}`),
    error: (e) => calls.push(`error ${e.kind}`),
  };
  return { calls, sink };
};

const sse = (text: string) => Buffer.from(text);
const SSE_HEADERS = [{ name: 'content-type', value: 'text/event-stream; charset=utf-8' }];
const chunk = (content: string) => sse(`data: {"choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}}}]}\n\n`);

let now = 1000;
afterEach(() => vi.restoreAllMocks());
const clock = () => vi.spyOn(performance, 'now').mockImplementation(() => now);

async function scrape(registry: MetricsRegistry) {
  return parsePrometheusText(await registry.metrics());
}

describe('GatewayMetrics', () => {
  it('counts each request once when its response closes, by kind and code (499 when the client left)', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const metrics = new GatewayMetrics(registry);
    const a = fakeResponse();
    metrics.request('/t/t-1/v1/chat/completions', a);
    a.finish(200);
    const b = fakeResponse();
    metrics.request('/t/t-1/v1/models', b);
    b.finish(401);
    const c = fakeResponse();
    metrics.plain(metrics.request('/t/t-1/v1/chat/completions', c));
    c.abort();
    const m = await scrape(registry);
    expect(m.value('st_gateway_requests_total', { kind: 'chat', code: '200' })).toBe(1);
    expect(m.value('st_gateway_requests_total', { kind: 'models', code: '401' })).toBe(1);
    expect(m.value('st_gateway_requests_total', { kind: 'plain', code: '499' })).toBe(1);
    expect(m.value('st_gateway_requests_total')).toBe(3);
    expect(m.value('st_gateway_request_duration_seconds_count')).toBe(3);
  });

  it('passes every call through to the responder first, and times the first byte and the tokens of a stream', async () => {
    clock();
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const metrics = new GatewayMetrics(registry);
    const res = fakeResponse();
    now = 1000;
    const request = metrics.request('/v1/chat/completions', res);
    const { calls, sink } = recorder();
    const metered = metrics.sink(request, sink);
    now = 1100;
    metered.head(200, SSE_HEADERS, new Uint8Array(0), false);
    now = 1250;
    metered.data(sse(`data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n`), false);
    metered.data(chunk('Hel'), false);
    now = 1350;
    // Two events in one chunk, and a reasoning field that is not content.
    metered.data(Buffer.concat([chunk('lo'), chunk(' wor'), sse('data: {"choices":[{"delta":{"reasoning_content":"hmm"}}]}\n\n')]), false);
    now = 1450;
    metered.data(chunk('ld'), false);
    metered.data(sse('data: [DONE]\n\n'), true);
    res.finish(200);
    expect(calls.map((c) => c.replace(/ \d+/, ''))).toEqual(['head', 'data', 'data', 'data', 'data', 'data end']);

    const m = await scrape(registry);
    expect(m.value('st_gateway_time_to_first_byte_seconds_count', { kind: 'chat' })).toBe(1);
    expect(m.value('st_gateway_time_to_first_byte_seconds_sum', { kind: 'chat' })).toBeCloseTo(0.25);
    // 4 content chunks from 1250 to 1450 ms: 3 intervals in 0.2 s.
    expect(m.value('st_gateway_stream_tokens_per_second_count', { kind: 'chat' })).toBe(1);
    expect(m.value('st_gateway_stream_tokens_per_second_sum', { kind: 'chat' })).toBeCloseTo(15);
  });

  it('observes no rate for an answer that broke off, and counts its error and a limit behind it', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const metrics = new GatewayMetrics(registry);
    const res = fakeResponse();
    const metered = metrics.sink(metrics.request('/v1/chat/completions', res), recorder().sink);
    metered.head(200, SSE_HEADERS, chunk('a'), false);
    metered.data(chunk('b'), false);
    metered.error(new TunnelError('upstream_reset', 'cut'));
    const other = fakeResponse();
    metrics.sink(metrics.request('/v1/chat/completions', other), recorder().sink).error(tooLarge(10));
    metrics.rejected(new TunnelError('rate_limited', 'tunnel t has 2 requests open (ST_LIMIT_TUNNEL_CONCURRENCY): retry when some finish'));
    metrics.rejected(new TunnelError('not_found', 'no such tunnel'));
    const m = await scrape(registry);
    expect(m.value('st_gateway_stream_tokens_per_second_count')).toBe(0);
    expect(m.value('st_gateway_exchange_errors_total', { error: 'upstream_reset' })).toBe(1);
    expect(m.value('st_limit_refusals_total', { limit: 'max_body' })).toBe(1);
    expect(m.value('st_limit_refusals_total', { limit: 'tunnel_concurrency' })).toBe(1);
    expect(m.value('st_limit_refusals_total')).toBe(2);
  });

  it("counts connections the server drops over ST_MAX_CONNECTIONS", async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const server = new EventEmitter() as unknown as Server;
    new GatewayMetrics(registry).watch(server);
    server.emit('drop');
    server.emit('drop');
    expect((await scrape(registry)).value('st_limit_refusals_total', { limit: 'max_connections' })).toBe(2);
  });

  it('counts what never became a request (slow headers, a malformed one) as kind other, by its code', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const metrics = new GatewayMetrics(registry);
    metrics.protocolError(408);
    metrics.protocolError(408);
    metrics.protocolError(400);
    const m = await scrape(registry);
    expect(m.value('st_gateway_requests_total', { kind: 'other', code: '408' })).toBe(2);
    expect(m.value('st_gateway_requests_total', { kind: 'other', code: '400' })).toBe(1);
  });

  it('with metrics off hands the responder itself to the exchange', () => {
    const { sink } = recorder();
    expect(NO_GATEWAY_METER.sink(NO_GATEWAY_METER.request('/v1/chat/completions', fakeResponse()), sink)).toBe(sink);
  });
});
