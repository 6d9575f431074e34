import type { RequestOpen } from '@st/proto';
import { type TraceSpan, activeTracer, parseTraceparent } from '@st/telemetry';
import { headerValue } from '@st/tunnel-protocol';

/**
 * The agent's spans of one exchange, when tracing is on: the exchange (a child of the broker's
 * span, named by the Open frame's `traceparent`) and, under it, the client span of the call to
 * the model server, whose `traceparent` the model server receives (vLLM and TGI read it).
 */
export class AgentExchangeSpans {
  private constructor(
    private readonly exchange: TraceSpan,
    private readonly upstream: TraceSpan,
  ) {}

  /**
   * Starts both spans and puts the upstream span's `traceparent` in `headers` (undici's flat
   * `[name, value, …]` list, in place of the one that came); undefined when tracing is off, and
   * then the headers are left as they are.
   */
  static start(open: RequestOpen, headers: string[], origin: string): AgentExchangeSpans | undefined {
    const tracer = activeTracer();
    if (!tracer) return undefined;
    const attributes = { 'st.request_id': open.requestId, 'http.request.method': open.method, 'url.path': open.path };
    const exchange = tracer.start('agent exchange', 'server', parseTraceparent(headerValue(open.headers, 'traceparent')), attributes);
    const upstream = tracer.start(`${open.method} upstream`, 'client', parseTraceparent(exchange.traceparent), { ...attributes, 'server.address': origin });
    setTraceparent(headers, upstream.traceparent);
    return new AgentExchangeSpans(exchange, upstream);
  }

  /** Ends both; `error` marks them failed (the model server unreachable, a reset, a cancel). */
  end(status: number, error?: string): void {
    if (status > 0) this.upstream.setAttribute('http.response.status_code', status);
    const failed = error ?? (status >= 500 ? `the model server answered ${status}` : undefined);
    this.upstream.end(failed);
    this.exchange.end(failed);
  }
}

function setTraceparent(headers: string[], value: string): void {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === 'traceparent') {
      headers[i + 1] = value;
      return;
    }
  }
  headers.push('traceparent', value);
}
