export { parseTraceparent, formatTraceparent, traceIdOf } from './trace-context';
export type { TraceParent } from './trace-context';
export { tracingConfig } from './otel-config';
export type { TracingConfig } from './otel-config';
export { TRACING_SHUTDOWN_MS, activeTracer, startTracing, shutdownTracing, useTracer } from './otel-setup';
export type { Tracer, TraceSpan, SpanKindName, SpanAttributes } from './tracer';
export { RecordingTracer } from './recording-tracer';
export type { RecordedSpan } from './recording-tracer';
