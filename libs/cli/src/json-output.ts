import { ProviderChange, SessionStatus, TunnelStatus, type Provider, type Session, type Tunnel, type TunnelConnection, type User } from '@st/proto';

// What `--json` prints: camelCase keys, enums as lowercase words without their prefix
// ("running", "waiting", "added"), times as ISO 8601 strings and unset times as null. The key
// order is fixed here, so output is stable for diffs and for humans reading it.

export interface UserJson {
  id: string;
  name: string;
  createTime: string | null;
}

export interface SessionJson {
  id: string;
  name: string;
  status: string;
  createTime: string | null;
  updateTime: string | null;
}

export interface TunnelJson {
  id: string;
  name: string;
  sessionId: string;
  sessionName: string;
  remoteHost: string;
  remotePort: number;
  openai: boolean;
  status: string;
  hasUpstreamApiKey: boolean;
  healthy: boolean;
  lastHealthCheck: string | null;
  models: string[];
  baseUrl: string;
  createTime: string | null;
  connections: ConnectionJson[];
}

/** One live agent stream of a tunnel: which broker holds it, since when, and its state. */
export interface ConnectionJson {
  brokerId: string;
  streamId: string;
  since: string | null;
  healthy: boolean;
  draining: boolean;
  agentInstanceId: string;
}

export interface ProviderJson {
  id: string;
  name: string;
  type: string;
  status: string;
  healthy: boolean;
  lastHealthCheck: string | null;
  models: string[];
  baseUrl: string;
  sessionId: string;
  sessionName: string;
  connections: ConnectionJson[];
}

export interface ProviderEventJson {
  change: string;
  provider: ProviderJson | null;
}

/**
 * `SESSION_STATUS_RUNNING` → `"running"`. A number the generated enum does not know (a newer
 * server) becomes `"unknown-<n>"` rather than failing the command.
 */
export function enumWord(enumObject: Record<string, string | number>, value: number, prefix: string): string {
  const name = enumObject[value];
  if (name === 'UNRECOGNIZED') return 'unknown';
  if (typeof name !== 'string') return `unknown-${value}`;
  return (name.startsWith(prefix) ? name.slice(prefix.length) : name).toLowerCase().replace(/_/g, '-');
}

export const sessionStatusWord = (status: SessionStatus): string => enumWord(SessionStatus, status, 'SESSION_STATUS_');
export const tunnelStatusWord = (status: TunnelStatus): string => enumWord(TunnelStatus, status, 'TUNNEL_STATUS_');
export const providerChangeWord = (change: ProviderChange): string => enumWord(ProviderChange, change, 'PROVIDER_CHANGE_');

/** ISO 8601 in UTC, or null for an unset (or invalid) timestamp. */
export function isoOrNull(time: Date | undefined): string | null {
  return time && !Number.isNaN(time.getTime()) ? time.toISOString() : null;
}

export function userJson(user: User): UserJson {
  return { id: user.id, name: user.name, createTime: isoOrNull(user.createTime) };
}

export function sessionJson(session: Session): SessionJson {
  return {
    id: session.id,
    name: session.name,
    status: sessionStatusWord(session.status),
    createTime: isoOrNull(session.createTime),
    updateTime: isoOrNull(session.updateTime),
  };
}

export function tunnelJson(tunnel: Tunnel): TunnelJson {
  return {
    id: tunnel.id,
    name: tunnel.name,
    sessionId: tunnel.sessionId,
    sessionName: tunnel.sessionName,
    remoteHost: tunnel.remoteHost,
    remotePort: tunnel.remotePort,
    openai: tunnel.openai,
    status: tunnelStatusWord(tunnel.status),
    hasUpstreamApiKey: tunnel.hasUpstreamApiKey,
    healthy: tunnel.healthy,
    lastHealthCheck: isoOrNull(tunnel.lastHealthCheck),
    models: [...tunnel.models],
    baseUrl: tunnel.baseUrl,
    createTime: isoOrNull(tunnel.createTime),
    connections: tunnel.connections.map(connectionJson),
  };
}

export function connectionJson(connection: TunnelConnection): ConnectionJson {
  return {
    brokerId: connection.brokerId,
    streamId: connection.streamId,
    since: isoOrNull(connection.since),
    healthy: connection.healthy,
    draining: connection.draining,
    agentInstanceId: connection.agentInstanceId,
  };
}

export function providerJson(provider: Provider): ProviderJson {
  return {
    id: provider.id,
    name: provider.name,
    type: provider.type,
    status: tunnelStatusWord(provider.status),
    healthy: provider.healthy,
    lastHealthCheck: isoOrNull(provider.lastHealthCheck),
    models: [...provider.models],
    baseUrl: provider.baseUrl,
    sessionId: provider.sessionId,
    sessionName: provider.sessionName,
    connections: provider.connections.map(connectionJson),
  };
}

export function providerEventJson(change: ProviderChange, provider: Provider | undefined): ProviderEventJson {
  return { change: providerChangeWord(change), provider: provider ? providerJson(provider) : null };
}

export { jsonLine } from './json-line';
