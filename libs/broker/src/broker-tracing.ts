import type { Header } from '@st/proto';
import { type Tracer, parseTraceparent } from '@st/telemetry';
import { headerValue } from '@st/tunnel-protocol';
import type { Exchange, ExchangeRequestHead, ExchangeSink, ExchangeTarget } from './exchange-api';

/**
 * The broker's span of one exchange (tracing on only; Broker.open checks): a child of the
 * gateway's span (the request's `traceparent`), ended by the answer's end, its failure or a
 * cancel, and the parent of the agent's span: the Open frame's `traceparent` names it. The
 * headers travel in RequestOpen as they always do, so the wire is unchanged.
 */
export function openTracedExchange(
  tracer: Tracer,
  target: ExchangeTarget,
  head: ExchangeRequestHead,
  sink: ExchangeSink,
  open: (head: ExchangeRequestHead, sink: ExchangeSink) => Exchange,
): Exchange {
  const span = tracer.start('broker exchange', 'server', parseTraceparent(headerValue(head.headers, 'traceparent')), {
    'st.tunnel_id': target.tunnelId,
    'st.request_id': head.requestId,
  });
  const traced: ExchangeSink = {
    head(status, headers, body, end) {
      span.setAttribute('http.response.status_code', status);
      if (end) span.end();
      sink.head(status, headers, body, end);
    },
    data(chunk, end) {
      if (end) span.end();
      sink.data(chunk, end);
    },
    error(error) {
      span.end(`${error.kind}: ${error.message}`);
      sink.error(error);
    },
  };
  // A copy: a gateway that retries on another broker re-sends its own head, not ours.
  const exchange = open({ ...head, headers: withTraceparent(head.headers, span.traceparent) }, traced);
  return {
    write: (chunk, end) => exchange.write(chunk, end),
    release: (bytes) => exchange.release(bytes),
    cancel: (reason) => {
      span.end(`cancelled: ${reason}`);
      exchange.cancel(reason);
    },
  };
}

function withTraceparent(headers: Header[], traceparent: string): Header[] {
  const out = headers.filter((h) => h.name !== 'traceparent');
  out.push({ name: 'traceparent', value: traceparent });
  return out;
}
