import type { TraceParent } from './trace-context';
import type { SpanAttributes, SpanKindName, TraceSpan, Tracer } from './tracer';

/** One span a {@link RecordingTracer} started, as the role asked for it. */
export interface RecordedSpan {
  name: string;
  kind: SpanKindName;
  parent: TraceParent | undefined;
  attributes: SpanAttributes;
  traceId: string;
  spanId: string;
  /** undefined while open; null when ended fine, else the error it ended with. */
  ended?: string | null;
}

/**
 * A tracer for unit tests of the roles' spans (no SDK): it records each span, and gives span
 * number n the id `n` in 16 hex digits, in the parent's trace or in trace `aaaa…` (32 a's).
 */
export class RecordingTracer implements Tracer {
  readonly spans: RecordedSpan[] = [];

  start(name: string, kind: SpanKindName, parent: TraceParent | undefined, attributes: SpanAttributes = {}): TraceSpan {
    const traceId = parent?.traceId ?? 'a'.repeat(32);
    const spanId = (this.spans.length + 1).toString(16).padStart(16, '0');
    const record: RecordedSpan = { name, kind, parent, attributes: { ...attributes }, traceId, spanId };
    this.spans.push(record);
    return {
      traceId,
      traceparent: `00-${traceId}-${spanId}-${parent && !parent.sampled ? '00' : '01'}`,
      setAttribute: (key, value) => {
        record.attributes[key] = value;
      },
      end: (error) => {
        if (record.ended === undefined) record.ended = error ?? null;
      },
    };
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
