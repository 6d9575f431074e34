import { DiagLogLevel, ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, diag, trace, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Logger } from '@st/logging';
import type { TracingConfig } from './otel-config';
import { type TraceParent, formatTraceparent } from './trace-context';
import type { SpanAttributes, SpanKindName, TraceSpan, Tracer } from './tracer';

// Loaded only when tracing is configured (otel-setup.ts imports this file lazily): a process
// without an exporter never evaluates the SDK.

const KINDS: Record<SpanKindName, SpanKind> = { server: SpanKind.SERVER, client: SpanKind.CLIENT, internal: SpanKind.INTERNAL };

/** The instrumentation scope every span of this project is reported under. */
const SCOPE = 'session-tunnels';

/**
 * A {@link Tracer} on OpenTelemetry's SDK: one provider with a batch processor and the OTLP/HTTP
 * JSON exporter, which reads its URL, headers, timeout and compression from the standard
 * variables. Nothing is registered globally (no context manager, no propagator): parents are
 * passed explicitly, so no async hook runs on any request. The sampler is the SDK's default,
 * parent-based (a caller's unsampled trace stays unsampled; OTEL_TRACES_SAMPLER changes it).
 */
export function createOtelTracer(config: TracingConfig, logger: Logger, exporter: SpanExporter = new OTLPTraceExporter()): Tracer {
  // The SDK reports export failures through `diag`; they go to our log at warn.
  diag.setLogger(
    {
      error: (message, ...args) => logger.warn({ otel: args.map(String) }, `OpenTelemetry: ${message}`),
      warn: (message, ...args) => logger.warn({ otel: args.map(String) }, `OpenTelemetry: ${message}`),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  // OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME over the process's own name.
  const resource = resourceFromAttributes({ 'service.name': config.serviceName }).merge(detectResources({ detectors: [envDetector] }));
  const provider = new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] });
  const tracer = provider.getTracer(SCOPE);
  return {
    start(name: string, kind: SpanKindName, parent: TraceParent | undefined, attributes?: SpanAttributes): TraceSpan {
      const context = parent
        ? trace.setSpanContext(ROOT_CONTEXT, {
            traceId: parent.traceId,
            spanId: parent.spanId,
            traceFlags: parent.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
            isRemote: true,
          })
        : ROOT_CONTEXT;
      return new OtelSpan(tracer.startSpan(name, { kind: KINDS[kind], attributes }, context));
    },
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

class OtelSpan implements TraceSpan {
  readonly traceparent: string;
  readonly traceId: string;
  private ended = false;

  constructor(private readonly span: Span) {
    const context = span.spanContext();
    this.traceId = context.traceId;
    this.traceparent = formatTraceparent({ traceId: context.traceId, spanId: context.spanId, sampled: (context.traceFlags & TraceFlags.SAMPLED) !== 0 });
  }

  setAttribute(key: string, value: string | number | boolean): void {
    this.span.setAttribute(key, value);
  }

  end(error?: string): void {
    if (this.ended) return;
    this.ended = true;
    if (error !== undefined) this.span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    this.span.end();
  }
}
