import * as grpc from '@grpc/grpc-js';
import { CLIENT_KEEPALIVE_OPTIONS, MESSAGE_SIZE_OPTIONS } from '@st/grpc-kit';
import type { Logger } from '@st/logging';
import { TunnelServiceClient } from '@st/proto';
import { AgentConnection, type ConnectionOutcome } from './agent-connection';
import { type Clock, systemClock } from './clock';
import { EXIT_OK, EXIT_TOKEN_REFUSED } from './exit-codes';
import { BACKOFF_STABLE_MS, type BackoffOptions, ReconnectBackoff } from './reconnect-backoff';

export interface AgentSupervisorOptions {
  /** `http://host:port` (plaintext) or `https://host:port` (TLS). */
  brokerUrl: string;
  token: string;
  /** Overrides the tunnel's upstream address from Welcome. */
  upstreamUrl?: string;
  agentVersion: string;
  logger: Logger;
  backoff?: BackoffOptions;
  clock?: Clock;
  /** Called with a one-line status for people and for systemd's STATUS=. */
  onStatus?: (status: string) => void;
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
 */
export class AgentSupervisor {
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly backoff: ReconnectBackoff;
  private readonly client: TunnelServiceClient;
  private readonly stopSignal = new AbortController();
  private connection: AgentConnection | undefined;
  private stopping = false;

  constructor(private readonly options: AgentSupervisorOptions) {
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    this.backoff = new ReconnectBackoff(options.backoff);
    const { address, credentials } = brokerTarget(options.brokerUrl);
    this.client = new TunnelServiceClient(address, credentials, {
      ...CLIENT_KEEPALIVE_OPTIONS,
      ...MESSAGE_SIZE_OPTIONS,
      // Reconnect pacing is ours (with jitter and logs); grpc-js's own must not stack on top.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 1000,
    });
  }

  /** Serves until stop() or a failure that retrying cannot mend. */
  async run(): Promise<AgentExit> {
    const target = this.options.brokerUrl;
    while (!this.stopping) {
      this.status(`connecting to broker ${target}`);
      const started = this.clock.now();
      const connection = new AgentConnection({
        client: this.client,
        token: this.options.token,
        agentVersion: this.options.agentVersion,
        upstreamOverride: this.options.upstreamUrl,
        logger: this.logger,
        onWelcome: (welcome, upstreamUrl) => {
          this.logger.info(
            {
              tunnelId: welcome.tunnelId,
              brokerId: welcome.brokerId,
              upstream: upstreamUrl,
              upstreamSource: this.options.upstreamUrl ? 'ST_UPSTREAM_URL' : 'tunnel',
            },
            'connected to broker',
          );
          this.status(`connected to broker ${target} for tunnel ${welcome.tunnelId}, upstream ${upstreamUrl}`);
        },
      });
      this.connection = connection;
      const outcome = await connection.serve();
      this.connection = undefined;
      if (this.stopping) break;
      const fatal = fatalExit(outcome);
      if (fatal) {
        this.logger.error({ code: grpc.status[outcome.code], reason: outcome.reason }, fatal.reason);
        this.status(fatal.reason);
        return fatal;
      }
      if (this.clock.now() - started >= BACKOFF_STABLE_MS) this.backoff.reset();
      const delay = this.backoff.next();
      this.logger.warn(
        { code: grpc.status[outcome.code], reason: outcome.reason, retryInMs: delay, wasConnected: outcome.welcomed },
        'broker connection lost; reconnecting with backoff',
      );
      this.status(`retrying in ${(delay / 1000).toFixed(1)} s: ${outcome.reason}`);
      await this.clock.sleep(delay, this.stopSignal.signal);
    }
    return { exitCode: EXIT_OK, reason: 'stopped' };
  }

  /** Drains the current connection (open answers finish within `graceMs`) and stops. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    await this.connection?.drain(graceMs);
    this.client.close();
  }

  /** Stops at once: open exchanges are aborted. */
  stopNow(): void {
    this.stopping = true;
    this.stopSignal.abort();
    this.connection?.close();
    this.client.close();
  }

  private status(text: string): void {
    this.options.onStatus?.(text);
  }
}

function fatalExit(outcome: ConnectionOutcome): AgentExit | undefined {
  if (outcome.code === grpc.status.UNAUTHENTICATED) {
    return { exitCode: EXIT_TOKEN_REFUSED, reason: `the broker refused the tunnel token: ${outcome.reason}` };
  }
  return undefined;
}

/** The grpc-js target and credentials for a broker URL. */
export function brokerTarget(url: string): { address: string; credentials: grpc.ChannelCredentials } {
  const parsed = new URL(url);
  const tls = parsed.protocol === 'https:';
  const port = parsed.port || (tls ? '443' : '80');
  return {
    address: `${parsed.hostname}:${port}`,
    credentials: tls ? grpc.credentials.createSsl() : grpc.credentials.createInsecure(),
  };
}
