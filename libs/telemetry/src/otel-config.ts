/**
 * Whether this process exports traces, read from OpenTelemetry's standard environment variables
 * (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/). Tracing is
 * on only when an OTLP endpoint is given: without one no SDK is loaded and no span is made.
 */

type Env = Readonly<Record<string, string | undefined>>;

export interface TracingConfig {
  /** `service.name` of every span: OTEL_SERVICE_NAME, else the process's own name (st-gateway, …). */
  serviceName: string;
  /** Where spans go, for the log line (the exporter reads the variables itself). */
  endpoint: string;
  /**
   * Set when OTEL_EXPORTER_OTLP(_TRACES)_PROTOCOL asks for something other than `http/json`:
   * this build has the OTLP/HTTP JSON exporter only, and says so at start.
   */
  protocolWarning?: string;
}

/** The tracing settings of this process, or undefined when tracing is off. */
export function tracingConfig(env: Env, defaultServiceName: string): TracingConfig | undefined {
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return undefined;
  // OTEL_TRACES_EXPORTER=none (or console, which a service logging JSON on stdout must not do).
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((e) => e.trim().toLowerCase()).filter(Boolean);
  if (exporters.length > 0 && !exporters.includes('otlp')) return undefined;
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  // As the exporter does: the signal's own URL is used as it is, the base one gets /v1/traces.
  const endpoint = traces || (base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined);
  if (!endpoint) return undefined;
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || '').trim();
  const config: TracingConfig = { serviceName: env.OTEL_SERVICE_NAME?.trim() || defaultServiceName, endpoint };
  if (protocol !== '' && protocol !== 'http/json') {
    config.protocolWarning = `OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not available in this build: spans go to ${endpoint} as OTLP/HTTP JSON (the OpenTelemetry Collector's OTLP/HTTP receiver takes it); set OTEL_EXPORTER_OTLP_PROTOCOL=http/json to silence this`;
  }
  return config;
}
