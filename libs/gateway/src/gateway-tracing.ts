import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Header } from '@st/proto';
import { type TraceSpan, activeTracer, parseTraceparent } from '@st/telemetry';

/**
 * The gateway's part of a trace: one server span per request, the caller's `traceparent` as its
 * parent (a missing or invalid one starts a new trace), and that span as the parent of what the
 * broker, the agent and the model server do, through the `traceparent` request header the tunnel
 * carries like any other. With tracing off nothing here runs beyond one check per request: the
 * caller's `traceparent` and `tracestate` then travel to the model server as they came.
 */

/** The request's span, for {@link traceForward} (the unified endpoint forwards in another call). */
const spans = new WeakMap<IncomingMessage, TraceSpan>();

/** Starts the request's server span when tracing is on; it ends when the response closes. */
export function traceRequest(req: IncomingMessage, res: ServerResponse, requestId: string, url: string): void {
  const tracer = activeTracer();
  if (!tracer) return;
  const method = req.method ?? 'GET';
  const path = url.split('?')[0];
  const span = tracer.start(`${method} ${routeOf(path)}`, 'server', parseTraceparent(req.headers.traceparent), {
    'http.request.method': method,
    'url.path': path,
    'st.request_id': requestId,
  });
  spans.set(req, span);
  res.once('close', () => {
    span.setAttribute('http.response.status_code', res.statusCode);
    span.end(res.statusCode >= 500 ? `answered ${res.statusCode}` : res.writableFinished ? undefined : 'the response was cut');
  });
}

/**
 * Before the request goes into the tunnel: with a span, `headers` carry it as the `traceparent`
 * (the caller's replaced; its `tracestate` dropped when its traceparent was invalid, as W3C asks).
 * Returns the traceparent that goes on, the caller's when tracing is off, for the request's log line.
 */
export function traceForward(req: IncomingMessage, headers: Header[]): string | undefined {
  // Off, not even the map is looked at.
  const span = activeTracer() ? spans.get(req) : undefined;
  if (!span) {
    const own = req.headers.traceparent;
    return typeof own === 'string' ? own : undefined;
  }
  const restarted = parseTraceparent(req.headers.traceparent)?.traceId !== span.traceId;
  for (let i = headers.length - 1; i >= 0; i--) {
    const name = headers[i].name;
    if (name === 'traceparent' || (restarted && name === 'tracestate')) headers.splice(i, 1);
  }
  headers.push({ name: 'traceparent', value: span.traceparent });
  return span.traceparent;
}

/** A span name of bounded cardinality: tunnel ids become `{tunnel}`, a plain tunnel's paths `*`. */
function routeOf(path: string): string {
  if (!path.startsWith('/t/')) return path.startsWith('/v1/') || path === '/v1' ? apiRoute(path) : 'other';
  const slash = path.indexOf('/', 3);
  const rest = slash === -1 ? '' : path.slice(slash);
  return `/t/{tunnel}${rest.startsWith('/v1/') ? apiRoute(rest) : '/*'}`;
}

function apiRoute(path: string): string {
  return path.startsWith('/v1/models/') ? '/v1/models/{model}' : path;
}

/**
 * `trace_id` for the log line of a request the gateway answers itself (auth failure, 404, 429
 * before any exchange), as the responder's lines carry it: the request's span when tracing is
 * on, else the caller's own `traceparent`; nothing when there is neither.
 */
export function traceFieldsOf(req: IncomingMessage | undefined): { trace_id?: string } {
  if (!req) return {};
  const span = activeTracer() ? spans.get(req) : undefined;
  const traceId = span ? span.traceId : parseTraceparent(req.headers.traceparent)?.traceId;
  return traceId === undefined ? {} : { trace_id: traceId };
}
