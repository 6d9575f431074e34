import type { Register, Welcome } from '@st/proto';
import { CAPABILITY_HEALTH_REPORT, DEFAULT_RECEIVE_WINDOW, PROTOCOL_VERSION, windowLimitFor } from '@st/tunnel-protocol';
import type { SessionTunnel } from './agent-session';

/** What the broker tells every agent in its Welcome, besides the tunnel's own fields. */
export interface WelcomeSettings {
  brokerId: string;
  healthIntervalMs: number;
  receiveWindow: number;
  maxChunkBytes: number;
  pingIntervalMs: number;
  /** Distinct brokers live now, this one included. */
  liveBrokers: () => number;
}

/** A stream's terms once its Register arrived: the Welcome to send and the agent's windows. */
export interface Registration {
  welcome: Welcome;
  /** The agent's initial request-body window, as the broker capped it. */
  agentWindow: number;
  /** What that window may grow to (protocol 2; fixed at agentWindow before). */
  agentWindowLimit: number;
  /** True when the stream takes exchanges at once (no health report will come first). */
  routableAtOnce: boolean;
}

/** Answers an agent's Register: the Welcome and the windows the stream runs with. */
export function acceptRegister(register: Register, tunnel: SessionTunnel, settings: WelcomeSettings): Registration {
  // The agent's request window is its own business, within reason: a huge one would let a
  // request body pile up in the agent's memory instead of pushing back on the caller.
  const agentWindow = register.receiveWindow > 0 ? Math.min(register.receiveWindow, 4 * DEFAULT_RECEIVE_WINDOW) : DEFAULT_RECEIVE_WINDOW;
  return {
    agentWindow,
    agentWindowLimit: windowLimitFor(Math.min(PROTOCOL_VERSION, register.protocolVersion || 1), agentWindow),
    // Agents that probe their model server become routable with their first report, so that a
    // running tunnel's models are known; older agents at once, and so do the agents of plain
    // HTTP tunnels, which Welcome tells not to probe (no report will come).
    routableAtOnce: !register.capabilities.includes(CAPABILITY_HEALTH_REPORT) || tunnel.plainHttp,
    welcome: {
      protocolVersion: Math.min(PROTOCOL_VERSION, register.protocolVersion || PROTOCOL_VERSION),
      tunnelId: tunnel.id,
      upstreamUrl: tunnel.upstreamUrl,
      brokerId: settings.brokerId,
      receiveWindow: settings.receiveWindow,
      maxChunkBytes: settings.maxChunkBytes,
      pingIntervalMs: settings.pingIntervalMs,
      upstreamApiKey: tunnel.upstreamApiKey,
      healthIntervalMs: settings.healthIntervalMs,
      plainHttp: tunnel.plainHttp,
      liveBrokers: Math.max(1, settings.liveBrokers()),
    },
  };
}

/** The "agent registered" log line's fields (never the token or the upstream key). */
export function registeredLogFields(register: Register, tunnel: SessionTunnel): Record<string, unknown> {
  return {
    agentVersion: register.agentVersion,
    protocolVersion: register.protocolVersion,
    hostname: register.hostname,
    capabilities: register.capabilities,
    upstream: register.upstreamOverride || tunnel.upstreamUrl,
    upstreamOverridden: register.upstreamOverride !== '',
    agentInstanceId: register.agentInstanceId,
    connectionEpoch: Number(register.connectionEpoch),
  };
}
