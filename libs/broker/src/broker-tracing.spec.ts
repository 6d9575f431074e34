import { describe, expect, it } from 'vitest';
import { RecordingTracer } from '@st/telemetry';
import { TunnelError } from '@st/tunnel-protocol';
import { openTracedExchange } from './broker-tracing';
import type { Exchange, ExchangeRequestHead, ExchangeSink } from './exchange-api';

const GATEWAY = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

function head(): ExchangeRequestHead {
  return {
    requestId: 'r-1',
    method: 'POST',
    path: '/v1/chat/completions',
    query: '',
    headers: [
      { name: 'traceparent', value: GATEWAY },
      { name: 'content-type', value: 'application/json' },
    ],
    body: new Uint8Array(0),
    end: true,
  };
}

/** Opens through openTracedExchange onto a fake broker that hands back its sink. */
function open(tracer: RecordingTracer) {
  const calls: string[] = [];
  let opened: { head: ExchangeRequestHead; sink: ExchangeSink } | undefined;
  const sink: ExchangeSink = { head: () => calls.push('head'), data: () => calls.push('data'), error: () => calls.push('error') };
  const inner: Exchange = { write: () => Promise.resolve(), release: () => calls.push('release'), cancel: () => calls.push('cancel') };
  const original = head();
  const exchange = openTracedExchange(tracer, { tunnelId: 't-1', userId: 'u-1' }, original, sink, (h, s) => {
    opened = { head: h, sink: s };
    return inner;
  });
  return { exchange, calls, original, opened: opened! };
}

describe('openTracedExchange', () => {
  it("starts the broker's span under the gateway's and sends the agent a copy of the head naming it", () => {
    const tracer = new RecordingTracer();
    const { opened, original } = open(tracer);
    expect(tracer.spans).toMatchObject([
      { name: 'broker exchange', kind: 'server', parent: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' }, attributes: { 'st.tunnel_id': 't-1', 'st.request_id': 'r-1' } },
    ]);
    expect(opened.head.headers).toEqual([
      { name: 'content-type', value: 'application/json' },
      { name: 'traceparent', value: `00-4bf92f3577b34da6a3ce929d0e0e4736-${tracer.spans[0].spanId}-01` },
    ]);
    // The gateway's own head is untouched (its retry sends it again).
    expect(original.headers[0].value).toBe(GATEWAY);
  });

  it('ends the span with the answer, its failure or a cancel, and passes everything on', () => {
    const ended = (drive: (o: ReturnType<typeof open>) => void) => {
      const tracer = new RecordingTracer();
      const o = open(tracer);
      drive(o);
      return { ended: tracer.spans[0].ended, attributes: tracer.spans[0].attributes, calls: o.calls };
    };
    expect(ended((o) => o.opened.sink.head(200, [], new Uint8Array(0), true))).toMatchObject({ ended: null, attributes: { 'http.response.status_code': 200 }, calls: ['head'] });
    const streamed = ended((o) => {
      o.opened.sink.head(200, [], new Uint8Array(0), false);
      o.opened.sink.data(new Uint8Array(1), false);
      o.exchange.release(1);
    });
    expect(streamed).toMatchObject({ ended: undefined, calls: ['head', 'data', 'release'] });
    expect(ended((o) => o.opened.sink.error(new TunnelError('no_agent', 'no agent')))).toMatchObject({ ended: 'no_agent: no agent', calls: ['error'] });
    expect(ended((o) => o.exchange.cancel('client disconnected'))).toMatchObject({ ended: 'cancelled: client disconnected', calls: ['cancel'] });
  });
});
