import { newId } from './ids';
import { AGENT_TOKEN_PREFIX, API_KEY_PREFIX, digestSecret, generateSecret, secretHint } from './secrets';
import { TUNNEL_DEFAULTS, type ApiKeyInfo, type NewTunnel, type Session, type Tunnel, type User } from './store';

// New rows as both backends insert them, so ids, defaults and timestamps cannot drift apart.

export const now = (): string => new Date().toISOString();

export function draftUser(name: string): User {
  return { id: newId('u'), name, createdAt: now() };
}

export function draftApiKey(userId: string): { info: ApiKeyInfo; apiKey: string; digest: string } {
  const apiKey = generateSecret(API_KEY_PREFIX);
  const info: ApiKeyInfo = { id: newId('k'), userId, hint: secretHint(apiKey), createdAt: now() };
  return { info, apiKey, digest: digestSecret(apiKey) };
}

export function draftSession(userId: string, name: string): Session {
  const createdAt = now();
  return { id: newId('s'), userId, name, state: 'running', createdAt, updatedAt: createdAt };
}

export interface TunnelDraft {
  tunnel: Tunnel;
  agentToken: string;
  tokenDigest: string;
  /** What goes into upstream_key_ciphertext: null rather than an empty string. */
  upstreamKeyCiphertext: string | null;
}

export function draftTunnel(t: NewTunnel): TunnelDraft {
  const agentToken = generateSecret(AGENT_TOKEN_PREFIX);
  // An empty ciphertext cannot hold a key; storing it would make hasUpstreamKey lie.
  const upstreamKeyCiphertext = t.upstreamKeyCiphertext ? t.upstreamKeyCiphertext : null;
  const tunnel: Tunnel = {
    id: newId('t'),
    userId: t.userId,
    name: t.name,
    remoteHost: t.remoteHost ?? TUNNEL_DEFAULTS.remoteHost,
    remotePort: t.remotePort ?? TUNNEL_DEFAULTS.remotePort,
    openai: t.openai ?? TUNNEL_DEFAULTS.openai,
    state: TUNNEL_DEFAULTS.state,
    sessionId: t.sessionId ?? null,
    hasUpstreamKey: upstreamKeyCiphertext !== null,
    createdAt: now(),
  };
  return { tunnel, agentToken, tokenDigest: digestSecret(agentToken), upstreamKeyCiphertext };
}
