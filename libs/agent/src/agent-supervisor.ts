import * as grpc from '@grpc/grpc-js';
import { CLIENT_KEEPALIVE_OPTIONS, MESSAGE_SIZE_OPTIONS } from '@st/grpc-kit';
import type { Logger } from '@st/logging';
import { TunnelServiceClient } from '@st/proto';
import { AgentConnection, type ConnectionOutcome } from './agent-connection';
import { type BrokerTarget, BrokerTargetError, brokerTarget } from './broker-credentials';
import { explainDialFailure } from './http1-probe';
import { type Clock, systemClock } from './clock';
import { EXIT_CONFIG, EXIT_OK, EXIT_TOKEN_REFUSED } from './exit-codes';
import { type ProxyDecision, channelProxyOptions, normaliseProxyEnv, resolveProxy } from './proxy-env';
import { BACKOFF_STABLE_MS, type BackoffOptions, ReconnectBackoff } from './reconnect-backoff';
import { retryDelay } from './retry-delay';

export interface AgentSupervisorOptions {
  /** `http://host:port` (plaintext) or `https://host:port` (TLS). */
  brokerUrl: string;
  token: string;
  /** Overrides the tunnel's upstream address from Welcome. */
  upstreamUrl?: string;
  /** ST_BROKER_CA_FILE: PEM of the CA that signed the broker's certificate (https:// only). */
  caFile?: string;
  agentVersion: string;
  logger: Logger;
  backoff?: BackoffOptions;
  clock?: Clock;
  /** Called with a one-line status for people and for systemd's STATUS=. */
  onStatus?: (status: string) => void;
  /** How long one dial may take until the broker's Welcome (default 15 s). */
  welcomeTimeoutMs?: number;
  /**
   * The environment holding the proxy variables (HTTPS_PROXY, NO_PROXY, …); default
   * process.env, which is normalised in place because grpc-js reads process.env.
   */
  env?: NodeJS.ProcessEnv;
}

/** Why the supervisor stopped; `exitCode` is what st-agent exits with. */
export interface AgentExit {
  exitCode: number;
  reason: string;
}

/**
 * Keeps one connection to the broker alive: connects, serves until the stream is lost, waits
 * with backoff, and connects again, until stopped or refused for good. Converges on "connected"
 * rather than retrying a fixed number of times (konnectivity's agents that gave up stayed gone).
 *
 * Each attempt gets a channel of its own, closed when the attempt ends: a connection that hangs
 * (a frozen broker accepts TCP and never answers) cannot be inherited by the next attempt, and
 * grpc-js's own reconnect pacing never stacks on top of ours.
 */
export class AgentSupervisor {
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly backoff: ReconnectBackoff;
  private readonly stopSignal = new AbortController();
  private connection: AgentConnection | undefined;
  private client: TunnelServiceClient | undefined;
  private stopping = false;

  constructor(private readonly options: AgentSupervisorOptions) {
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    this.backoff = new ReconnectBackoff(options.backoff);
  }

  /** Serves until stop() or a failure that retrying cannot mend. */
  async run(): Promise<AgentExit> {
    const target = this.options.brokerUrl;
    let broker: BrokerTarget;
    try {
      broker = brokerTarget(target, { caFile: this.options.caFile });
    } catch (err) {
      if (!(err instanceof BrokerTargetError)) throw err;
      this.logger.error({ brokerUrl: target, caFile: this.options.caFile }, err.message);
      this.status(err.message);
      return { exitCode: EXIT_CONFIG, reason: err.message };
    }
    if (this.options.caFile && !broker.tls) {
      this.logger.warn({ caFile: this.options.caFile, brokerUrl: target }, 'ST_BROKER_CA_FILE is set but the broker URL is http:// (plaintext): the CA file is not used; use https:// for TLS');
    }
    const proxy = this.resolveProxy(broker);
    const dialContext = {
      ...broker,
      caFile: this.options.caFile,
      proxy: proxy.proxy && proxy.bypassedBy === undefined ? { url: proxy.proxy, variable: proxy.variable ?? 'https_proxy' } : undefined,
    };
    const channelOptions: grpc.ChannelOptions = {
      ...CLIENT_KEEPALIVE_OPTIONS,
      ...MESSAGE_SIZE_OPTIONS,
      ...channelProxyOptions(proxy),
      // One attempt per channel (see the class comment); the pacing between attempts is ours.
      'grpc.initial_reconnect_backoff_ms': 1000,
      'grpc.max_reconnect_backoff_ms': 1000,
    };
    /** Attempts that failed since the last Welcome. */
    let failures = 0;
    while (!this.stopping) {
      this.status(`connecting to broker ${target}`);
      const started = this.clock.now();
      const client = new TunnelServiceClient(broker.address, broker.credentials, channelOptions);
      this.client = client;
      const connection = new AgentConnection({
        client,
        token: this.options.token,
        agentVersion: this.options.agentVersion,
        upstreamOverride: this.options.upstreamUrl,
        logger: this.logger,
        welcomeTimeoutMs: this.options.welcomeTimeoutMs,
        onWelcome: (welcome, upstreamUrl) => {
          this.logger.info(
            {
              tunnelId: welcome.tunnelId,
              brokerId: welcome.brokerId,
              upstream: upstreamUrl,
              upstreamSource: this.options.upstreamUrl ? 'ST_UPSTREAM_URL' : 'tunnel',
              tls: broker.tls,
              failedAttempts: failures,
            },
            'connected to broker',
          );
          failures = 0;
          this.status(`connected to broker ${target} for tunnel ${welcome.tunnelId}, upstream ${upstreamUrl}`);
        },
      });
      this.connection = connection;
      const outcome = await connection.serve();
      this.connection = undefined;
      this.client = undefined;
      client.close();
      if (this.stopping) break;
      const fatal = fatalExit(outcome);
      if (fatal) {
        this.logger.error({ code: grpc.status[outcome.code], reason: outcome.reason }, fatal.reason);
        this.status(fatal.reason);
        return fatal;
      }
      failures++;
      if (this.clock.now() - started >= BACKOFF_STABLE_MS) this.backoff.reset();
      // Refused as stopped: retry about every second, so a restarted tunnel serves again at once.
      const { delayMs: delay, waitingForStart } = retryDelay(outcome, this.backoff);
      const hint = outcome.welcomed || waitingForStart ? undefined : await explainDialFailure(outcome.reason, dialContext);
      this.logger.warn(
        {
          code: grpc.status[outcome.code],
          reason: outcome.reason,
          hint,
          retryInMs: delay,
          failedAttempts: failures,
          wasConnected: outcome.welcomed,
          connectedForMs: outcome.welcomed ? this.clock.now() - started : undefined,
        },
        waitingForStart
          ? 'the tunnel or its session is stopped; retrying every second until it is started'
          : outcome.welcomed
            ? 'broker connection lost; reconnecting with backoff'
            : 'cannot connect to the broker; retrying with backoff',
      );
      this.status(`retrying in ${(delay / 1000).toFixed(1)} s: ${hint ?? outcome.reason}`);
      await this.clock.sleep(delay, this.stopSignal.signal);
    }
    return { exitCode: EXIT_OK, reason: 'stopped' };
  }

  /** Drains the current connection (open answers finish within `graceMs`) and stops. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    await this.connection?.drain(graceMs);
  }

  /** Stops at once: open exchanges are aborted. */
  stopNow(): void {
    this.stopping = true;
    this.stopSignal.abort();
    this.connection?.close();
    this.client?.close();
  }

  private status(text: string): void {
    this.options.onStatus?.(text);
  }

  /** Normalises the proxy variables and logs how the broker is reached. */
  private resolveProxy(broker: BrokerTarget): ProxyDecision {
    const env = this.options.env ?? process.env;
    const { copied, origin } = normaliseProxyEnv(env);
    const decision = resolveProxy(broker.host, env, origin);
    if (decision.problem) {
      this.logger.warn({ variable: decision.variable }, decision.problem);
    } else if (decision.bypassedBy !== undefined) {
      const noProxy = origin.no_grpc_proxy && env.no_grpc_proxy ? origin.no_grpc_proxy : (origin.no_proxy ?? 'no_proxy');
      this.logger.info(
        { proxy: decision.proxy, proxyVariable: decision.variable, noProxyEntry: decision.bypassedBy, broker: broker.address },
        `the broker is dialled directly: ${noProxy} matches ${broker.host}`,
      );
    } else if (decision.proxy) {
      this.logger.info(
        { proxy: decision.proxy, proxyVariable: decision.variable, proxyCredentials: decision.withCredentials, broker: broker.address, normalised: copied },
        `the broker is dialled through the HTTP proxy ${decision.proxy} (${decision.variable})`,
      );
    }
    return decision;
  }
}

function fatalExit(outcome: ConnectionOutcome): AgentExit | undefined {
  if (outcome.code === grpc.status.UNAUTHENTICATED) {
    return { exitCode: EXIT_TOKEN_REFUSED, reason: `the broker refused the tunnel token: ${outcome.reason}` };
  }
  return undefined;
}
