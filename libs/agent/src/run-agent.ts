import { ConfigError, describeSettings } from '@st/config';
import { createLogger } from '@st/logging';
import { shutdownTracing, startTracing } from '@st/telemetry';
import { loadAgentConfig, AGENT_SETTINGS, CONFIG_FILE_SETTING } from './agent-config';
import { runAgentCheck } from './agent-check';
import { AGENT_VERSION } from './agent-version';
import { AgentSupervisor } from './agent-supervisor';
import { newAgentInstanceId } from './agent-instance';
import { EXIT_CONFIG } from './exit-codes';
import { tidyGrpcReason } from './grpc-reason';
import { SystemdNotifier } from './sd-notify';

export { AGENT_VERSION } from './agent-version';

/** How long the last messages to systemd (STOPPING=1, a final STATUS=) may take at exit. */
const NOTIFY_FLUSH_MS = 2_000;

const USAGE = `Usage: st-agent [options]         serve the tunnel (until SIGTERM)
       st-agent check [options]   check the configuration, the broker and the model server, then exit
       st-agent --version | --help

Settings: flags over environment variables over the config file (camelCase keys, e.g. brokerUrl).
`;

/**
 * The whole life of an st-agent process: config, logger, supervisor, signals, systemd. SIGTERM
 * drains (open answers finish within the grace period); a second signal exits at once.
 */
export async function runAgent(argv: string[]): Promise<void> {
  if (argv.includes('--version')) {
    process.stdout.write(`st-agent ${AGENT_VERSION}\n`);
    return;
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    const settings = describeSettings({ config: CONFIG_FILE_SETTING, ...AGENT_SETTINGS });
    process.stdout.write(`${USAGE}\n${settings}\n`);
    return;
  }
  if (argv[0] === 'check') {
    process.exit(await runAgentCheck(argv.slice(1), (line) => process.stdout.write(`${line}\n`)));
  }
  let config;
  try {
    config = loadAgentConfig({ argv });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // ST_LOG_LEVEL itself may be what is wrong: this logger only serves the notifier.
    const systemd = new SystemdNotifier({ logger: createLogger({ name: 'st-agent', level: 'info' }) });
    process.stderr.write(`st-agent: ${err.message}\n`);
    systemd.status(`invalid configuration: ${err.message.replace(/^invalid configuration:\s*/, '')}`);
    await systemd.flush(NOTIFY_FLUSH_MS);
    process.exit(EXIT_CONFIG);
  }
  const logger = createLogger({ name: 'st-agent', level: config.logLevel });
  const systemd = new SystemdNotifier({ logger });
  // OTLP tracing when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set; nothing at all otherwise.
  await startTracing('st-agent', logger);
  // In every Register and in each broker's `tunnels get` connections: ties them to this process.
  const agentInstanceId = newAgentInstanceId();
  logger.info(
    {
      agentInstanceId,
      brokerUrls: config.brokerUrls,
      brokerConnections: config.brokerConnections,
      upstreamOverride: config.upstreamUrl ?? null,
      configFile: config.configFile ?? null,
      tokenSource: config.tokenSource,
      version: AGENT_VERSION,
    },
    config.upstreamUrl ? `st-agent starting; upstream fixed by ST_UPSTREAM_URL to ${config.upstreamUrl}` : "st-agent starting; upstream from the tunnel's settings",
  );
  // Loaded only when asked for: an agent without metrics never evaluates prom-client.
  const metrics = config.metricsAddr ? await (await import('./agent-metrics-server')).startAgentMetrics(config.metricsAddr, logger) : undefined;
  const supervisor = new AgentSupervisor({
    meter: metrics?.meter,
    brokerUrl: config.brokerUrl,
    brokerUrls: config.brokerUrls,
    brokerConnections: config.brokerConnections,
    token: config.token,
    upstreamUrl: config.upstreamUrl,
    caFile: config.caFile,
    lightClient: config.lightClient,
    agentVersion: AGENT_VERSION,
    agentInstanceId,
    logger,
    backoff: { maxMs: config.reconnectMaxMs },
    onStatus: (status) => systemd.status(tidyGrpcReason(status)),
  });
  metrics?.meter.observe(() => supervisor.snapshot());
  let signals = 0;
  // Every stream drains at once (each broker routes nothing new to it), and the process exits
  // once the open answers on all of them have finished.
  const onSignal = (signal: string) => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting at once');
      supervisor.stopNow();
      process.exit(130);
    }
    logger.info({ signal, graceMs: config.drainGraceMs }, 'draining: open answers may finish, no new requests are taken');
    systemd.stopping(`draining: open answers may finish within ${config.drainGraceMs / 1000} s`);
    void supervisor.stop(config.drainGraceMs);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  // Ready once the configuration holds, not once the broker answers: a broker that is down at
  // boot must not fail the unit; the agent keeps retrying and STATUS= says so.
  systemd.ready();
  const watchdogMs = systemd.startWatchdog();
  if (systemd.enabled) logger.debug({ watchdogMs: watchdogMs ?? null }, 'telling systemd about readiness and status');
  const exit = await supervisor.run();
  await metrics?.server.close();
  logger.info({ exitCode: exit.exitCode, reason: exit.reason }, 'st-agent exiting');
  systemd.stopWatchdog();
  await Promise.all([systemd.flush(NOTIFY_FLUSH_MS), shutdownTracing()]);
  // Let pino flush its asynchronous destination before the process ends.
  logger.flush(() => process.exit(exit.exitCode));
}
