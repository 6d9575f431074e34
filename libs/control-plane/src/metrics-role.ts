import type { Logger } from '@st/logging';
import { MetricsRegistry, MetricsServer } from '@st/metrics';
import type { ServerConfig } from './server-config';

/**
 * One registry for every role of the process when ST_METRICS_PORT is set, else none: then the
 * roles get no meter at all (their no-op recorders), and nothing of prom-client runs.
 */
export function metricsRegistryFor(config: Pick<ServerConfig, 'metricsPort'>): MetricsRegistry | undefined {
  return config.metricsPort === undefined ? undefined : new MetricsRegistry();
}

/** Serves the registry at /metrics on ST_HOST:ST_METRICS_PORT, apart from the gateway's port. */
export async function serveMetrics(registry: MetricsRegistry, config: Pick<ServerConfig, 'host' | 'metricsPort'>, logger: Logger): Promise<MetricsServer> {
  const server = new MetricsServer({ registry, logger: logger.child({ role: 'metrics' }), setting: 'ST_METRICS_PORT' });
  await server.listen(config.host, config.metricsPort ?? 0);
  return server;
}
