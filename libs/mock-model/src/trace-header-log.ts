import type { IncomingMessage } from 'node:http';

/** `GET /mock/trace-headers`: the trace context of the last /v1 requests, for tests of tracing. */
export const TRACE_HEADERS_PATH = '/mock/trace-headers';

/** How many requests are remembered: enough for a test, bounded for a benchmark's millions. */
const KEPT = 64;

/** The W3C trace context one request arrived with (vLLM and TGI read `traceparent` too). */
export interface ReceivedTraceHeaders {
  method: string;
  path: string;
  /** The request's x-request-id, to find a test's own request among the health probes. */
  requestId: string | null;
  traceparent: string | null;
  tracestate: string | null;
}

/** A ring of the last {@link KEPT} requests' trace headers, newest last. */
export class TraceHeaderLog {
  private readonly entries: ReceivedTraceHeaders[] = [];

  record(req: IncomingMessage, path: string): void {
    if (this.entries.length === KEPT) this.entries.shift();
    this.entries.push({
      method: req.method ?? '',
      path,
      requestId: first(req.headers['x-request-id']),
      traceparent: first(req.headers.traceparent),
      tracestate: first(req.headers.tracestate),
    });
  }

  list(): ReceivedTraceHeaders[] {
    return [...this.entries];
  }
}

function first(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(',') : value;
}
