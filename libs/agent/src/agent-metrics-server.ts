import type { Logger } from '@st/logging';
import { MetricsRegistry, MetricsServer } from '@st/metrics';
import { AgentMetrics } from './agent-metrics';
import { EXIT_CONFIG } from './exit-codes';

/**
 * /metrics of st-agent on ST_AGENT_METRICS_ADDR (`--metrics-addr`, `metricsAddr`), or nothing
 * when it is unset: then the agent has no meter and no registry at all. An address that cannot be
 * bound is a configuration error (exit 2): retrying would not free it.
 */
export async function startAgentMetrics(
  address: { host: string; port: number } | undefined,
  logger: Logger,
): Promise<{ meter: AgentMetrics; server: MetricsServer } | undefined> {
  if (!address) return undefined;
  const registry = new MetricsRegistry();
  const server = new MetricsServer({ registry, logger, setting: 'ST_AGENT_METRICS_ADDR' });
  try {
    await server.listen(address.host, address.port);
  } catch (err) {
    process.stderr.write(`st-agent: invalid configuration:\n  ST_AGENT_METRICS_ADDR / --metrics-addr / metricsAddr: ${(err as Error).message}\n`);
    logger.flush(() => process.exit(EXIT_CONFIG));
    return new Promise(() => undefined);
  }
  return { meter: new AgentMetrics(registry), server };
}
