import type { Store } from '@st/store';

/** Credentials of the demo, minted fresh on each `npm start`. */
export interface DemoCredentials {
  userId: string;
  tunnelId: string;
  apiKey: string;
  agentToken: string;
}

/**
 * Makes sure the demo user and its tunnel exist and mints a fresh API key and agent token
 * (old ones stop working), so the printed curl line is the only valid key of the demo user.
 */
export async function prepareDemo(store: Store, names = { user: 'demo', tunnel: 'demo' }): Promise<DemoCredentials> {
  const user = (await store.getUserByName(names.user)) ?? (await store.createUser(names.user));
  await store.revokeAllApiKeys(user.id);
  const { apiKey } = await store.createApiKey(user.id);
  // The demo's compute session is this machine: a running session named like the tunnel.
  const sessions = await store.listSessions(user.id);
  let session = sessions.find((s) => s.name === names.tunnel) ?? (await store.createSession(user.id, names.tunnel));
  if (session.state !== 'running') session = (await store.setSessionState(user.id, session.id, 'running'))!;
  const existing = await store.getTunnelByName(user.id, names.tunnel);
  if (existing) {
    const agentToken = await store.rotateAgentToken(existing.id);
    await store.setTunnelState(user.id, existing.id, 'started');
    return { userId: user.id, tunnelId: existing.id, apiKey, agentToken };
  }
  const { tunnel, agentToken } = await store.createTunnel({ userId: user.id, sessionId: session.id, name: names.tunnel, openai: true });
  return { userId: user.id, tunnelId: tunnel.id, apiKey, agentToken };
}
