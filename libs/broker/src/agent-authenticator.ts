/** A tunnel whose agent was admitted, with what the agent needs to serve it. */
export interface AdmittedTunnel {
  id: string;
  userId: string;
  remoteHost: string;
  remotePort: number;
  /** The OpenAI toggle; off means a plain HTTP tunnel (any path is forwarded). */
  openai: boolean;
  /** The model server's own API key in clear ("" when none), sent only in Welcome. */
  upstreamApiKey: string;
}

/** Why an agent is not admitted. */
export type AgentRefusal =
  | { refused: 'unknown_token' }
  | { refused: 'tunnel_stopped'; tunnelId: string }
  | { refused: 'session_stopped'; tunnelId: string; sessionId: string };

/** What the broker needs from the control plane to admit agents. */
export interface AgentAuthenticator {
  /** Checks an agent token against the store and the tunnel's and session's state. */
  admitAgent(token: string): Promise<{ tunnel: AdmittedTunnel } | AgentRefusal>;
}

/**
 * The address the agent should send requests to: the tunnel's remote host and port inside the
 * session. Bracketed when the host is an IPv6 literal.
 */
export function upstreamUrlOf(tunnel: Pick<AdmittedTunnel, 'remoteHost' | 'remotePort'>): string {
  const host = tunnel.remoteHost.includes(':') ? `[${tunnel.remoteHost}]` : tunnel.remoteHost;
  return `http://${host}:${tunnel.remotePort}`;
}
