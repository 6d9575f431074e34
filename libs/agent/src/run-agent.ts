import { ConfigError, describeSettings } from '@st/config';
import { createLogger } from '@st/logging';
import { loadAgentConfig, AGENT_SETTINGS } from './agent-config';
import { AgentSupervisor } from './agent-supervisor';
import { EXIT_CONFIG } from './exit-codes';

/** The agent's release, stamped into Register and printed by --version. */
export const AGENT_VERSION = '0.1.0';

/**
 * The whole life of an st-agent process: config, logger, supervisor, signals. SIGTERM drains
 * (open answers finish within the grace period); a second signal exits at once.
 */
export async function runAgent(argv: string[]): Promise<void> {
  if (argv.includes('--version')) {
    process.stdout.write(`st-agent ${AGENT_VERSION}\n`);
    return;
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`Usage: st-agent [options]\n\nSettings (flag, environment variable, meaning):\n${describeSettings(AGENT_SETTINGS)}\n`);
    return;
  }
  let config;
  try {
    config = loadAgentConfig({ argv });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`st-agent: ${err.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw err;
  }
  const logger = createLogger({ name: 'st-agent' });
  logger.info(
    { brokerUrl: config.brokerUrl, upstreamOverride: config.upstreamUrl ?? null, version: AGENT_VERSION },
    config.upstreamUrl ? `st-agent starting; upstream fixed by ST_UPSTREAM_URL to ${config.upstreamUrl}` : "st-agent starting; upstream from the tunnel's settings",
  );
  const supervisor = new AgentSupervisor({
    brokerUrl: config.brokerUrl,
    token: config.token,
    upstreamUrl: config.upstreamUrl,
    agentVersion: AGENT_VERSION,
    logger,
    backoff: { maxMs: config.reconnectMaxMs },
  });
  let signals = 0;
  const onSignal = (signal: string) => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting at once');
      supervisor.stopNow();
      process.exit(130);
    }
    logger.info({ signal, graceMs: config.drainGraceMs }, 'draining: open answers may finish, no new requests are taken');
    void supervisor.stop(config.drainGraceMs);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  const exit = await supervisor.run();
  logger.info({ exitCode: exit.exitCode, reason: exit.reason }, 'st-agent exiting');
  // Let pino flush its asynchronous destination before the process ends.
  logger.flush(() => process.exit(exit.exitCode));
}
