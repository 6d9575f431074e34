import type { Tunnel } from '@st/store';

/** The part of the store the broker needs to admit agents. */
export interface AgentAuthenticator {
  /** The tunnel whose agent token this is, or null for an unknown, rotated or deleted one. */
  authenticateAgentToken(token: string): Promise<Tunnel | null>;
}

/**
 * The address the agent should send requests to: the tunnel's remote host and port inside the
 * session. Bracketed when the host is an IPv6 literal.
 */
export function upstreamUrlOf(tunnel: Pick<Tunnel, 'remoteHost' | 'remotePort'>): string {
  const host = tunnel.remoteHost.includes(':') ? `[${tunnel.remoteHost}]` : tunnel.remoteHost;
  return `http://${host}:${tunnel.remotePort}`;
}
