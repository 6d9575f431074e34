import type { AdmittedTunnel, AgentAuthenticator, AgentRefusal } from '@st/broker';
import type { Store } from '@st/store';
import type { SecretBox } from './secret-box';

/**
 * Admits agents: the token must belong to a tunnel that is started, in a session that runs. The
 * tunnel's upstream key is decrypted here, only to go into that agent's Welcome.
 */
export class AgentAdmission implements AgentAuthenticator {
  constructor(
    private readonly store: Store,
    private readonly secrets: SecretBox,
  ) {}

  async admitAgent(token: string): Promise<{ tunnel: AdmittedTunnel } | AgentRefusal> {
    const tunnel = await this.store.authenticateAgentToken(token);
    if (!tunnel) return { refused: 'unknown_token' };
    // The session first: when both are stopped (a stopped session stops its tunnels), starting
    // the tunnel alone cannot help, and the agent's log must say to restart the session.
    if (tunnel.sessionId) {
      const session = await this.store.getSession(tunnel.sessionId);
      if (session?.state === 'stopped') return { refused: 'session_stopped', tunnelId: tunnel.id, sessionId: session.id };
    }
    if (tunnel.state === 'stopped') return { refused: 'tunnel_stopped', tunnelId: tunnel.id };
    const sealed = tunnel.hasUpstreamKey ? await this.store.getUpstreamKeyCiphertext(tunnel.id) : null;
    return {
      tunnel: {
        id: tunnel.id,
        userId: tunnel.userId,
        remoteHost: tunnel.remoteHost,
        remotePort: tunnel.remotePort,
        openai: tunnel.openai,
        upstreamApiKey: sealed ? this.secrets.open(sealed) : '',
      },
    };
  }
}
