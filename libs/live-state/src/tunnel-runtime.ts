import type { PresenceHealth } from './presence-entry';

/** One live agent stream of a tunnel, wherever it is held (this process or another broker). */
export interface TunnelConnectionView {
  brokerId: string;
  streamId: string;
  agentInstanceId: string;
  /** When the broker admitted the stream. */
  since: Date;
  /** The broker routes nothing new to a draining stream. */
  draining: boolean;
  /** This stream's last health report; undefined before the first. */
  health?: PresenceHealth;
}

/** What the control plane knows of one tunnel at run time. */
export interface TunnelLiveView {
  /** At least one stream takes new exchanges: the tunnel is `running` (unless stopped). */
  connected: boolean;
  /** The newest health report among its streams (or the last one kept after they left). */
  health: PresenceHealth | undefined;
  connections: TunnelConnectionView[];
}

/**
 * The live state of tunnels: the in-process broker's registry (one process) or shared presence
 * in Redis (replicas). Asynchronous because presence is a network read; implementations cache.
 */
export interface TunnelRuntime {
  viewOf(tunnelId: string): Promise<TunnelLiveView>;
}

/** The view of a tunnel nobody serves. */
export const NO_AGENT_VIEW: TunnelLiveView = Object.freeze({ connected: false, health: undefined, connections: [] }) as TunnelLiveView;
