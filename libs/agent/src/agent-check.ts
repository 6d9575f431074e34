import * as grpc from '@grpc/grpc-js';
import { ConfigError } from '@st/config';
import { MESSAGE_SIZE_OPTIONS } from '@st/grpc-kit';
import { createLogger, silentLogger, type Logger } from '@st/logging';
import type { Welcome } from '@st/proto';
import { FastTunnelServiceClient } from '@st/tunnel-protocol';
import { request } from 'undici';
import { type AgentConfig, loadAgentConfig } from './agent-config';
import { AgentConnection } from './agent-connection';
import { type BrokerTarget, BrokerTargetError, brokerTarget } from './broker-credentials';
import { explainDialFailure } from './http1-probe';
import { AGENT_VERSION } from './agent-version';
import { EXIT_CONFIG, EXIT_OK, EXIT_TOKEN_REFUSED } from './exit-codes';
import { tidyGrpcReason } from './grpc-reason';
import { probeModelServer } from './health-probe';
import { channelProxyOptions, normaliseProxyEnv, resolveProxy } from './proxy-env';
import { UpstreamClient } from './upstream-client';

/** How long the broker may take to welcome us, and the model server to answer. */
export const CHECK_TIMEOUT_MS = 10_000;

/** `st-agent check` exits 1 when a check failed for another reason than config or token. */
export const EXIT_CHECK_FAILED = 1;

interface Accepted {
  welcome: Welcome;
  upstreamUrl: string;
}

/**
 * `st-agent check`: the configuration, the broker's acceptance of the token and the model server,
 * one line each (✓/✗, what is wrong and how to fix it). Returns the exit code: 0 when all pass,
 * 2 for an invalid configuration, 3 for a refused token, else 1.
 */
export async function runAgentCheck(argv: string[], print: (line: string) => void, timeoutMs = CHECK_TIMEOUT_MS): Promise<number> {
  let config: AgentConfig;
  try {
    config = loadAgentConfig({ argv });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const problems = err.message.replace(/^invalid configuration:\s*/, '').split('\n').map((l) => l.trim());
    print(`✗ configuration: ${problems.join('; ')}`);
    return EXIT_CONFIG;
  }
  const upstreamSource = config.upstreamUrl ? `upstream ${config.upstreamUrl} (ST_UPSTREAM_URL)` : "upstream from the tunnel's settings";
  print(`✓ configuration: broker ${config.brokerUrl}, token from ${config.tokenSource}, ${upstreamSource}${config.configFile ? `, file ${config.configFile}` : ''}`);

  // Each URL of a list on its own line: a broker that refuses or is unreachable is named.
  const brokers = [];
  for (const url of config.brokerUrls) {
    const result = await checkBroker(url, config, timeoutMs);
    print(result.line);
    brokers.push(result);
  }
  const broker = brokers.find((b) => b.exitCode === EXIT_TOKEN_REFUSED) ?? brokers.find((b) => b.exitCode !== EXIT_OK) ?? brokers[0];
  broker.accepted ??= brokers.find((b) => b.accepted)?.accepted;

  const upstreamUrl = config.upstreamUrl ?? broker.accepted?.upstreamUrl;
  const upstream = upstreamUrl
    ? await checkUpstream(upstreamUrl, broker.accepted?.welcome, timeoutMs)
    : {
        ok: false,
        line: "✗ upstream: not checked: the model server's address comes from the tunnel, which the broker did not tell; fix the broker first, or set ST_UPSTREAM_URL to check it directly",
      };
  print(upstream.line);
  if (broker.exitCode !== EXIT_OK) return broker.exitCode;
  return upstream.ok ? EXIT_OK : EXIT_CHECK_FAILED;
}

/**
 * Connects as the agent would (Register with the token), waits for Welcome and leaves again: it
 * drains at once, before its first health report (the broker routes only to agents that have
 * reported), so it never takes a request and can run beside a running agent.
 */
async function checkBroker(target: string, config: AgentConfig, timeoutMs: number): Promise<{ line: string; exitCode: number; accepted?: Accepted }> {
  let broker: BrokerTarget;
  try {
    broker = brokerTarget(target, { caFile: config.caFile });
  } catch (err) {
    if (!(err instanceof BrokerTargetError)) throw err;
    return { line: `✗ broker: ${err.message}`, exitCode: EXIT_CONFIG };
  }
  // Dialled as the agent dials (same CA, same proxy variables), so the check sees what it sees.
  const { origin } = normaliseProxyEnv(process.env);
  const proxy = resolveProxy(broker.host, process.env, origin);
  const client = new FastTunnelServiceClient(broker.address, broker.credentials, { ...MESSAGE_SIZE_OPTIONS, ...channelProxyOptions(proxy) });
  let accepted: Accepted | undefined;
  const connection: AgentConnection = new AgentConnection({
    client,
    token: config.token,
    // The broker logs it: a check's short visit is told apart from a real agent's.
    agentVersion: `${AGENT_VERSION} (st-agent check)`,
    upstreamOverride: config.upstreamUrl,
    logger: checkLogger(),
    welcomeTimeoutMs: timeoutMs,
    onWelcome: (welcome, upstreamUrl) => {
      accepted = { welcome, upstreamUrl };
      // After AgentConnection has finished its own Welcome handling, so teardown undoes all of it.
      // A drain with no grace: Draining (the broker routes nothing here), then a clean half-close.
      setImmediate(() => void connection.drain(0));
    },
  });
  const outcome = await connection.serve();
  client.close();
  const via = proxy.proxy && !proxy.bypassedBy ? ` through the proxy ${proxy.proxy} (${proxy.variable})` : '';
  if (accepted) {
    return { line: `✓ broker: ${target} accepted the token for tunnel ${accepted.welcome.tunnelId}`, exitCode: EXIT_OK, accepted };
  }
  const reason = (await explainDialFailure(outcome.reason, { ...broker, caFile: config.caFile }, { direct: via === '' })) ?? tidyGrpcReason(outcome.reason);
  switch (outcome.code) {
    case grpc.status.UNAUTHENTICATED:
      return { line: `✗ broker: ${target} refused the token: ${reason}`, exitCode: EXIT_TOKEN_REFUSED };
    case grpc.status.DEADLINE_EXCEEDED:
      return {
        line: `✗ broker: no answer from ${target}${via} within ${timeoutMs / 1000} s: check that this is st-server's gRPC port and that nothing between here and there holds the connection`,
        exitCode: EXIT_CHECK_FAILED,
      };
    case grpc.status.UNAVAILABLE:
      return {
        line: `✗ broker: cannot reach ${target}${via} (${reason}): check ST_BROKER_URL / brokerUrl, that st-server runs there and that its gRPC port is reachable from this machine`,
        exitCode: EXIT_CHECK_FAILED,
      };
    default:
      // FAILED_PRECONDITION and the like: the broker's message says what to do (start the tunnel, …).
      return { line: `✗ broker: ${target} did not accept the agent (${grpc.status[outcome.code]}): ${reason}`, exitCode: EXIT_CHECK_FAILED };
  }
}

/** GET /v1/models as the health probe does (with the tunnel's upstream key); plain tunnels: any answer. */
async function checkUpstream(url: string, welcome: Welcome | undefined, timeoutMs: number): Promise<{ ok: boolean; line: string }> {
  const headers: Record<string, string> = welcome?.upstreamApiKey ? { authorization: `Bearer ${welcome.upstreamApiKey}` } : {};
  const fix = `start the model server, or point ST_UPSTREAM_URL / upstreamUrl${welcome ? " (or the tunnel's port)" : ''} at where it listens`;
  if (welcome?.plainHttp) {
    try {
      const res = await request(`${url}/`, { method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
      await res.body.dump();
      return { ok: true, line: `✓ upstream: ${url} answers (HTTP ${res.statusCode} on /; a plain HTTP tunnel)` };
    } catch (err) {
      return { ok: false, line: `✗ upstream: ${url} is unreachable (${(err as { code?: string }).code ?? (err as Error).message}): ${fix}` };
    }
  }
  const upstream = new UpstreamClient(url);
  try {
    const report = await probeModelServer(upstream, headers);
    if (!report.healthy) {
      const keyHint = /answered 401|answered 403/.test(report.error)
        ? welcome
          ? ": the model server wants another API key: set the tunnel's upstream key (stctl tunnels … --upstream-key-file)"
          : ': the model server wants an API key, which only the broker can hand over: fix the broker check first'
        : `: ${fix}`;
      return { ok: false, line: `✗ upstream: ${report.error}${keyHint}` };
    }
    const models = report.models.length > 0 ? `: ${report.models.join(', ')}` : ' (no models loaded yet)';
    return { ok: true, line: `✓ upstream: ${url} serves ${report.models.length} model(s)${models}` };
  } finally {
    await upstream.close();
  }
}


/** Check output is for people; the agent's JSON log only with ST_LOG_LEVEL, on stderr. */
function checkLogger(): Logger {
  if (!process.env.ST_LOG_LEVEL) return silentLogger();
  return createLogger({ name: 'st-agent check', destination: process.stderr });
}
