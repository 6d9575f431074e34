import type { TraceParent } from './trace-context';

/** OpenTelemetry's span kinds that this project uses. */
export type SpanKindName = 'server' | 'client' | 'internal';

export type SpanAttributes = Record<string, string | number | boolean>;

/**
 * What the roles see of tracing: start a span under a parent from a `traceparent` header, read
 * its own `traceparent` for the next hop, end it. The OpenTelemetry SDK behind it
 * (otel-tracer.ts) is loaded only when an exporter is configured; the roles hold no OTel types.
 */
export interface Tracer {
  /**
   * Starts a span; `parent` undefined starts a new trace. The parent is explicit (no context
   * manager, no async hooks): each role knows its parent from the request it is handling.
   */
  start(name: string, kind: SpanKindName, parent: TraceParent | undefined, attributes?: SpanAttributes): TraceSpan;
  /** Sends the spans ended so far. */
  flush(): Promise<void>;
  /** Sends what is still buffered and stops (at process exit). */
  shutdown(): Promise<void>;
}

export interface TraceSpan {
  /** This span as a `traceparent` value: the parent of whatever the next hop does. */
  readonly traceparent: string;
  readonly traceId: string;
  setAttribute(key: string, value: string | number | boolean): void;
  /** Ends the span (once; later calls do nothing); an error message marks it failed. */
  end(error?: string): void;
}
