import { afterEach, describe, expect, it } from 'vitest';
import type { RequestOpen } from '@st/proto';
import { RecordingTracer, useTracer } from '@st/telemetry';
import { AgentExchangeSpans } from './agent-tracing';

const BROKER = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

function open(traceparent?: string): RequestOpen {
  return {
    exchangeId: 1,
    requestId: 'r-1',
    method: 'POST',
    path: '/v1/chat/completions',
    query: '',
    headers: traceparent ? [{ name: 'traceparent', value: traceparent }] : [],
    body: new Uint8Array(0),
    end: true,
  } as RequestOpen;
}

afterEach(() => useTracer(undefined));

describe('AgentExchangeSpans', () => {
  it('does nothing while tracing is off: the headers keep what came', () => {
    const headers = ['traceparent', BROKER];
    expect(AgentExchangeSpans.start(open(BROKER), headers, 'http://127.0.0.1:8000')).toBeUndefined();
    expect(headers).toEqual(['traceparent', BROKER]);
  });

  it("makes the exchange span under the broker's and the upstream call under it, whose traceparent the model server gets", () => {
    const tracer = new RecordingTracer();
    useTracer(tracer);
    const headers = ['content-type', 'application/json', 'traceparent', BROKER, 'x-request-id', 'r-1'];
    const spans = AgentExchangeSpans.start(open(BROKER), headers, 'http://127.0.0.1:8000')!;
    const [exchange, upstream] = tracer.spans;
    expect(exchange).toMatchObject({ name: 'agent exchange', kind: 'server', parent: { spanId: '00f067aa0ba902b7' } });
    expect(upstream).toMatchObject({ name: 'POST upstream', kind: 'client', parent: { traceId: exchange.traceId, spanId: exchange.spanId }, attributes: { 'server.address': 'http://127.0.0.1:8000' } });
    expect(headers).toEqual(['content-type', 'application/json', 'traceparent', `00-${exchange.traceId}-${upstream.spanId}-01`, 'x-request-id', 'r-1']);
    spans.end(503);
    expect(upstream).toMatchObject({ ended: 'the model server answered 503', attributes: { 'http.response.status_code': 503 } });
    expect(exchange.ended).toBe('the model server answered 503');
  });

  it('adds a traceparent when none came, and marks a failed or cancelled call', () => {
    const tracer = new RecordingTracer();
    useTracer(tracer);
    const headers: string[] = [];
    AgentExchangeSpans.start(open(), headers, 'http://m')!.end(0, 'cancelled');
    expect(headers).toEqual(['traceparent', `00-${'a'.repeat(32)}-${tracer.spans[1].spanId}-01`]);
    expect(tracer.spans.map((s) => s.ended)).toEqual(['cancelled', 'cancelled']);
    expect(tracer.spans[1].attributes['http.response.status_code']).toBeUndefined();
  });
});
