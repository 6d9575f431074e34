import type { TunnelLiveView } from '@st/live-state';
import { type Provider, type TunnelConnection, type Tunnel as TunnelMessage, TunnelStatus } from '@st/proto';
import type { Session, Store, Tunnel } from '@st/store';

/**
 * A tunnel's status, derived every time from its state, its session's and the broker's streams,
 * never stored: it cannot go stale.
 */
export function tunnelStatus(tunnel: Tunnel, session: Session | null, live: TunnelLiveView): TunnelStatus {
  if (tunnel.state === 'stopped' || session?.state === 'stopped') return TunnelStatus.TUNNEL_STATUS_STOPPED;
  return live.connected ? TunnelStatus.TUNNEL_STATUS_RUNNING : TunnelStatus.TUNNEL_STATUS_WAITING;
}

/** Base URL callers use for a tunnel: the OpenAI API root, or the tunnel root for a plain one. */
export function tunnelBaseUrl(publicUrl: string, tunnel: Pick<Tunnel, 'id' | 'openai'>): string {
  return tunnel.openai ? `${publicUrl}/t/${tunnel.id}/v1` : `${publicUrl}/t/${tunnel.id}`;
}

/** The management API's view of a tunnel. */
export function describeTunnel(tunnel: Tunnel, session: Session | null, live: TunnelLiveView, publicUrl: string): TunnelMessage {
  const status = tunnelStatus(tunnel, session, live);
  const health = live.health;
  return {
    id: tunnel.id,
    name: tunnel.name,
    sessionId: tunnel.sessionId ?? '',
    sessionName: session?.name ?? '',
    remoteHost: tunnel.remoteHost,
    remotePort: tunnel.remotePort,
    openai: tunnel.openai,
    status,
    hasUpstreamApiKey: tunnel.hasUpstreamKey,
    // Health is only meaningful while an agent is there to vouch for it.
    healthy: status === TunnelStatus.TUNNEL_STATUS_RUNNING && (health?.healthy ?? false),
    lastHealthCheck: health?.checkedAt,
    models: health?.models ?? [],
    baseUrl: tunnelBaseUrl(publicUrl, tunnel),
    createTime: new Date(tunnel.createdAt),
    connections: status === TunnelStatus.TUNNEL_STATUS_STOPPED ? [] : connectionsOf(live),
  };
}

/** The tunnel's streams, oldest first, as the management API and the provider view list them. */
function connectionsOf(live: TunnelLiveView): TunnelConnection[] {
  return [...live.connections]
    .sort((a, b) => a.since.getTime() - b.since.getTime() || a.brokerId.localeCompare(b.brokerId))
    .map((c) => ({
      brokerId: c.brokerId,
      streamId: c.streamId,
      since: c.since,
      healthy: c.health?.healthy ?? false,
      draining: c.draining,
      agentInstanceId: c.agentInstanceId,
    }));
}

/** The AI Chat provider a tunnel with the OpenAI toggle is. */
export function describeProvider(view: TunnelMessage): Provider {
  return {
    id: view.id,
    name: view.name,
    type: 'openai-tunnel',
    status: view.status,
    healthy: view.healthy,
    lastHealthCheck: view.lastHealthCheck,
    models: view.models,
    baseUrl: view.baseUrl,
    sessionId: view.sessionId,
    sessionName: view.sessionName,
    connections: view.connections,
  };
}

/** Reads a tunnel's session (once per call site) for {@link describeTunnel}. */
export async function sessionOf(store: Pick<Store, 'getSession'>, tunnel: Tunnel): Promise<Session | null> {
  return tunnel.sessionId ? store.getSession(tunnel.sessionId) : null;
}
