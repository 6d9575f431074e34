import type { Provider, ProviderChange, Session, Tunnel, TunnelConnection, User } from '@st/proto';
import { providerChangeWord, sessionStatusWord, tunnelStatusWord } from './json-output';

// What stctl prints without `--json`: aligned tables for lists, "Label: value" blocks for one
// resource. Meant for people; scripts use --json.

export interface Column<T> {
  header: string;
  value: (row: T) => string;
}

/** Columns separated by two spaces, padded to the widest cell; no trailing blanks. */
export function renderTable<T>(columns: readonly Column<T>[], rows: readonly T[]): string {
  const cells = [columns.map((c) => c.header), ...rows.map((row) => columns.map((c) => oneLine(c.value(row))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i].length)));
  return cells.map((line) => line.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

/** "Label:  value" lines with the values aligned. */
export function renderFields(fields: readonly (readonly [string, string])[]): string {
  const width = Math.max(...fields.map(([label]) => label.length + 1));
  return fields.map(([label, value]) => `${`${label}:`.padEnd(width)}  ${oneLine(value)}`.trimEnd()).join('\n') + '\n';
}

/** `2025-01-02 03:04:05Z`, or `-` when unset. */
export function formatTime(time: Date | undefined): string {
  if (!time || Number.isNaN(time.getTime())) return '-';
  return time.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

const yesNo = (value: boolean): string => (value ? 'yes' : 'no');
const orDash = (value: string): string => (value === '' ? '-' : value);
const list = (values: readonly string[]): string => (values.length === 0 ? '-' : values.join(','));
/** A table cell must stay on its line whatever a name contains. */
const oneLine = (value: string): string => value.replace(/[\r\n\t]+/g, ' ');

/**
 * Live agent streams in a list: how many, and how many of them drain ("2", "2 (1 draining)"),
 * so a tunnel held by fewer brokers than its agent asks for shows at a glance.
 */
function streamCount(connections: readonly TunnelConnection[]): string {
  const draining = connections.filter((c) => c.draining).length;
  return draining === 0 ? String(connections.length) : `${connections.length} (${draining} draining)`;
}

/** One stream on its own line: `<broker id>  stream <id>  since <time>  healthy|unhealthy[  draining]`. */
function connectionLine(c: TunnelConnection): string {
  return [c.brokerId, `stream ${c.streamId}`, `since ${formatTime(c.since)}`, c.healthy ? 'healthy' : 'unhealthy', ...(c.draining ? ['draining'] : [])].join('  ');
}

const USER_COLUMNS: Column<User>[] = [
  { header: 'ID', value: (u) => u.id },
  { header: 'NAME', value: (u) => u.name },
  { header: 'CREATED', value: (u) => formatTime(u.createTime) },
];

const SESSION_COLUMNS: Column<Session>[] = [
  { header: 'ID', value: (s) => s.id },
  { header: 'NAME', value: (s) => s.name },
  { header: 'STATUS', value: (s) => sessionStatusWord(s.status) },
  { header: 'CREATED', value: (s) => formatTime(s.createTime) },
  { header: 'UPDATED', value: (s) => formatTime(s.updateTime) },
];

const TUNNEL_COLUMNS: Column<Tunnel>[] = [
  { header: 'ID', value: (t) => t.id },
  { header: 'NAME', value: (t) => t.name },
  { header: 'SESSION', value: (t) => orDash(t.sessionName || t.sessionId) },
  { header: 'TARGET', value: (t) => `${t.remoteHost}:${t.remotePort}` },
  { header: 'OPENAI', value: (t) => yesNo(t.openai) },
  { header: 'STATUS', value: (t) => tunnelStatusWord(t.status) },
  { header: 'HEALTHY', value: (t) => yesNo(t.healthy) },
  { header: 'MODELS', value: (t) => list(t.models) },
  { header: 'STREAMS', value: (t) => streamCount(t.connections) },
  { header: 'BASE URL', value: (t) => orDash(t.baseUrl) },
];

const PROVIDER_COLUMNS: Column<Provider>[] = [
  { header: 'ID', value: (p) => p.id },
  { header: 'NAME', value: (p) => p.name },
  { header: 'STATUS', value: (p) => tunnelStatusWord(p.status) },
  { header: 'HEALTHY', value: (p) => yesNo(p.healthy) },
  { header: 'MODELS', value: (p) => list(p.models) },
  { header: 'STREAMS', value: (p) => streamCount(p.connections) },
  { header: 'SESSION', value: (p) => orDash(p.sessionName || p.sessionId) },
  { header: 'BASE URL', value: (p) => orDash(p.baseUrl) },
];

/** A table, or `No <what>.` for an empty list (an empty table would only show headers). */
function tableOrNone<T>(what: string, columns: readonly Column<T>[], rows: readonly T[]): string {
  return rows.length === 0 ? `No ${what}.\n` : renderTable(columns, rows);
}

export const usersTable = (users: readonly User[]): string => tableOrNone('users', USER_COLUMNS, users);
export const sessionsTable = (sessions: readonly Session[]): string => tableOrNone('sessions', SESSION_COLUMNS, sessions);
export const tunnelsTable = (tunnels: readonly Tunnel[]): string => tableOrNone('tunnels', TUNNEL_COLUMNS, tunnels);
export const providersTable = (providers: readonly Provider[]): string => tableOrNone('providers', PROVIDER_COLUMNS, providers);

export function userFields(user: User): string {
  return renderFields([
    ['ID', user.id],
    ['Name', user.name],
    ['Created', formatTime(user.createTime)],
  ]);
}

export function sessionFields(session: Session): string {
  return renderFields([
    ['ID', session.id],
    ['Name', session.name],
    ['Status', sessionStatusWord(session.status)],
    ['Created', formatTime(session.createTime)],
    ['Updated', formatTime(session.updateTime)],
  ]);
}

export function tunnelFields(tunnel: Tunnel): string {
  return renderFields([
    ['ID', tunnel.id],
    ['Name', tunnel.name],
    ['Session', tunnel.sessionName ? `${tunnel.sessionName} (${tunnel.sessionId})` : tunnel.sessionId],
    ['Target', `${tunnel.remoteHost}:${tunnel.remotePort}`],
    ['OpenAI', yesNo(tunnel.openai)],
    ['Status', tunnelStatusWord(tunnel.status)],
    ['Upstream key', tunnel.hasUpstreamApiKey ? 'set' : 'none'],
    ['Healthy', yesNo(tunnel.healthy)],
    ['Last check', formatTime(tunnel.lastHealthCheck)],
    ['Models', list(tunnel.models)],
    ['Base URL', orDash(tunnel.baseUrl)],
    ['Created', formatTime(tunnel.createTime)],
    ['Streams', tunnel.connections.length === 0 ? 'none' : String(tunnel.connections.length)],
    ...tunnel.connections.map((c) => ['Stream', connectionLine(c)] as const),
  ]);
}

/** One line per watch event: time, change, then the provider's name, status, health and models. */
export function providerEventLine(change: ProviderChange, provider: Provider | undefined, now = new Date()): string {
  const time = now.toISOString().slice(11, 19);
  const word = providerChangeWord(change);
  if (!provider) return `${time}  ${word}\n`;
  const parts = [
    word.padEnd(7),
    provider.name,
    `(${provider.id})`,
    tunnelStatusWord(provider.status),
    provider.healthy ? 'healthy' : 'unhealthy',
    `models=${list(provider.models)}`,
    `streams=${provider.connections.length}`,
    orDash(provider.baseUrl),
  ];
  return `${time}  ${parts.map(oneLine).join('  ')}\n`;
}
