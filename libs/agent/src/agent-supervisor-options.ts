import type { Logger } from '@st/logging';
import type { AgentMeter } from './agent-meter';
import type { Clock } from './clock';
import type { BackoffOptions } from './reconnect-backoff';

export interface AgentSupervisorOptions {
  /** `http://host:port` (plaintext) or `https://host:port` (TLS); one URL, or several joined by commas. */
  brokerUrl: string;
  /** The URLs one by one (default: `brokerUrl` split at commas). */
  brokerUrls?: string[];
  /** ST_BROKER_CONNECTIONS: how many distinct brokers to hold a stream to (default 1 here; 2 in st-agent's config). */
  brokerConnections?: number;
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
  /** After a broker's Drain, how long the stream waits for its replacement's Welcome (default {@link REPLACEMENT_WAIT_MS}). */
  replacementWaitMs?: number;
  /** Register.agent_instance_id (default: a fresh random id). */
  agentInstanceId?: string;
  /**
   * The environment holding the proxy variables (HTTPS_PROXY, NO_PROXY, …); default
   * process.env, which is normalised in place because grpc-js reads process.env.
   */
  env?: NodeJS.ProcessEnv;
  /** Prometheus metrics (ST_AGENT_METRICS_ADDR); none when absent. */
  meter?: AgentMeter;
  /** ST_AGENT_LIGHT_CLIENT: Connect on the light HTTP/2 client, not grpc-js (default true; never through a proxy). */
  lightClient?: boolean;
}

/** Why the supervisor stopped; `exitCode` is what st-agent exits with. */
export interface AgentExit {
  exitCode: number;
  reason: string;
}
