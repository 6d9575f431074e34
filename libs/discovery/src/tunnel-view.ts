import type { TunnelHealth } from '@st/broker';
import { type Provider, type Tunnel as TunnelMessage, TunnelStatus } from '@st/proto';
import type { Session, Store, Tunnel } from '@st/store';

/** What the control plane knows about tunnels at run time (the broker implements it). */
export interface TunnelRuntime {
  isConnected(tunnelId: string): boolean;
  healthOf(tunnelId: string): TunnelHealth | undefined;
}

/**
 * A tunnel's status, derived every time from its state, its session's and the broker's streams,
 * never stored: it cannot go stale.
 */
export function tunnelStatus(tunnel: Tunnel, session: Session | null, runtime: TunnelRuntime): TunnelStatus {
  if (tunnel.state === 'stopped' || session?.state === 'stopped') return TunnelStatus.TUNNEL_STATUS_STOPPED;
  return runtime.isConnected(tunnel.id) ? TunnelStatus.TUNNEL_STATUS_RUNNING : TunnelStatus.TUNNEL_STATUS_WAITING;
}

/** Base URL callers use for a tunnel: the OpenAI API root, or the tunnel root for a plain one. */
export function tunnelBaseUrl(publicUrl: string, tunnel: Pick<Tunnel, 'id' | 'openai'>): string {
  return tunnel.openai ? `${publicUrl}/t/${tunnel.id}/v1` : `${publicUrl}/t/${tunnel.id}`;
}

/** The management API's view of a tunnel. */
export function describeTunnel(tunnel: Tunnel, session: Session | null, runtime: TunnelRuntime, publicUrl: string): TunnelMessage {
  const status = tunnelStatus(tunnel, session, runtime);
  const health = runtime.healthOf(tunnel.id);
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
  };
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
  };
}

/** Reads a tunnel's session (once per call site) for {@link describeTunnel}. */
export async function sessionOf(store: Pick<Store, 'getSession'>, tunnel: Tunnel): Promise<Session | null> {
  return tunnel.sessionId ? store.getSession(tunnel.sessionId) : null;
}
