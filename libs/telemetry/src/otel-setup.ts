import type { Logger } from '@st/logging';
import { tracingConfig } from './otel-config';
import type { Tracer } from './tracer';

type Env = Readonly<Record<string, string | undefined>>;

/** How long the last spans may take to leave at exit (the exporter's own timeout is 10 s). */
export const TRACING_SHUTDOWN_MS = 1_000;

let active: Tracer | undefined;

/**
 * The process's tracer, or undefined when tracing is off. The roles call this once per request:
 * off, that is the whole cost (no SDK loaded, no span, no allocation).
 */
export function activeTracer(): Tracer | undefined {
  return active;
}

/**
 * Turns tracing on when the environment names an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, and not OTEL_SDK_DISABLED=true). Only then is the SDK
 * loaded. `defaultServiceName` is the process's `service.name` unless OTEL_SERVICE_NAME is set.
 * Returns whether tracing is on.
 */
export async function startTracing(defaultServiceName: string, logger: Logger, env: Env = process.env): Promise<boolean> {
  const config = tracingConfig(env, defaultServiceName);
  if (!config) return false;
  if (config.protocolWarning) logger.warn(config.protocolWarning);
  const { createOtelTracer } = await import('./otel-tracer');
  active = createOtelTracer(config, logger);
  logger.info({ serviceName: config.serviceName, endpoint: config.endpoint }, 'tracing on: spans are exported over OTLP/HTTP (JSON)');
  return true;
}

/** For tests: tracing through `tracer` (or off with undefined), without the environment. */
export function useTracer(tracer: Tracer | undefined): void {
  active = tracer;
}

/** Flushes and stops tracing, within a bounded time; nothing to do when it is off. */
export async function shutdownTracing(): Promise<void> {
  const tracer = active;
  if (!tracer) return;
  active = undefined;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([tracer.shutdown().catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, TRACING_SHUTDOWN_MS)))]);
  clearTimeout(timer);
}
