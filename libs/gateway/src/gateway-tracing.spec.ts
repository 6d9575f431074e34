import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { Header } from '@st/proto';
import { RecordingTracer, useTracer } from '@st/telemetry';
import { traceFieldsOf, traceForward, traceRequest } from './gateway-tracing';

const CLIENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

function request(headers: Record<string, string>, method = 'POST'): { req: IncomingMessage; res: ServerResponse & EventEmitter } {
  const res = Object.assign(new EventEmitter(), { statusCode: 200, writableFinished: true }) as unknown as ServerResponse & EventEmitter;
  return { req: { method, headers } as unknown as IncomingMessage, res };
}

afterEach(() => useTracer(undefined));

describe('gateway tracing', () => {
  it("off: starts nothing and passes the caller's traceparent on as it came", () => {
    const { req, res } = request({ traceparent: CLIENT, tracestate: 'v=1' });
    traceRequest(req, res, 'r-1', '/t/t-1/v1/chat/completions');
    const headers: Header[] = [{ name: 'traceparent', value: CLIENT }];
    expect(traceForward(req, headers)).toBe(CLIENT);
    expect(headers).toEqual([{ name: 'traceparent', value: CLIENT }]);
    expect(traceForward(request({}).req, [])).toBeUndefined();
  });

  it("on: a server span under the caller's traceparent, which the tunnel then carries instead, tracestate kept", () => {
    const tracer = new RecordingTracer();
    useTracer(tracer);
    const { req, res } = request({ traceparent: CLIENT, tracestate: 'v=1' });
    traceRequest(req, res, 'r-1', '/t/t-abc/v1/chat/completions?x=1');
    expect(tracer.spans).toEqual([
      {
        name: 'POST /t/{tunnel}/v1/chat/completions',
        kind: 'server',
        parent: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', sampled: true },
        attributes: { 'http.request.method': 'POST', 'url.path': '/t/t-abc/v1/chat/completions', 'st.request_id': 'r-1' },
        traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
        spanId: '0000000000000001',
      },
    ]);
    const headers: Header[] = [
      { name: 'traceparent', value: CLIENT },
      { name: 'tracestate', value: 'v=1' },
    ];
    const sent = traceForward(req, headers);
    expect(sent).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000001-01');
    expect(headers).toEqual([
      { name: 'tracestate', value: 'v=1' },
      { name: 'traceparent', value: sent },
    ]);
    res.statusCode = 502;
    res.emit('close');
    expect(tracer.spans[0].attributes['http.response.status_code']).toBe(502);
    expect(tracer.spans[0].ended).toBe('answered 502');
  });

  it("on: an invalid traceparent starts a new trace and the caller's tracestate is dropped", () => {
    const tracer = new RecordingTracer();
    useTracer(tracer);
    for (const bad of [`ff${CLIENT.slice(2)}`, 'nonsense']) {
      const { req, res } = request({ traceparent: bad, tracestate: 'v=1' }, 'GET');
      traceRequest(req, res, 'r-2', '/v1/models/meta-llama/Llama-3');
      const headers: Header[] = [
        { name: 'traceparent', value: bad },
        { name: 'tracestate', value: 'v=1' },
        { name: 'x-other', value: 'kept' },
      ];
      expect(traceForward(req, headers)).toBe(`00-${'a'.repeat(32)}-${tracer.spans.at(-1)!.spanId}-01`);
      expect(headers.map((h) => h.name)).toEqual(['x-other', 'traceparent']);
      expect(tracer.spans.at(-1)).toMatchObject({ name: 'GET /v1/models/{model}', parent: undefined });
    }
    // A plain tunnel's paths do not make span names of their own.
    traceRequest(request({}).req, request({}).res, 'r-3', '/t/t-abc/some/page/42');
    expect(tracer.spans.at(-1)?.name).toBe('POST /t/{tunnel}/*');
  });

  it("gives the gateway's own refusals a trace_id: the span's when on, else the caller's traceparent's, else none", () => {
    expect(traceFieldsOf(request({ traceparent: CLIENT }).req)).toEqual({ trace_id: '4bf92f3577b34da6a3ce929d0e0e4736' });
    expect(traceFieldsOf(request({}).req)).toEqual({});
    expect(traceFieldsOf(undefined)).toEqual({});
    const tracer = new RecordingTracer();
    useTracer(tracer);
    const { req, res } = request({});
    traceRequest(req, res, 'r-1', '/v1/models');
    expect(traceFieldsOf(req)).toEqual({ trace_id: tracer.spans[0].traceId });
  });
});
