import { describe, expect, it } from 'vitest';
import { ProviderChange, SessionStatus, TunnelStatus, type Provider, type Tunnel } from '@st/proto';
import { formatTime, providerEventLine, providersTable, renderFields, renderTable, sessionsTable, tunnelFields, tunnelsTable, usersTable } from './table-output';

const tunnel: Tunnel = {
  id: 't-0001',
  name: 'llm',
  sessionId: 's-0001',
  sessionName: 'dev',
  remoteHost: 'localhost',
  remotePort: 8000,
  openai: true,
  status: TunnelStatus.TUNNEL_STATUS_RUNNING,
  hasUpstreamApiKey: false,
  healthy: true,
  lastHealthCheck: new Date('2025-01-02T03:04:05.500Z'),
  models: ['a', 'b'],
  baseUrl: 'http://gw/t/t-0001/v1',
  createTime: undefined,
  connections: [],
};

describe('table output', () => {
  it('aligns columns to the widest cell, two spaces apart, without trailing blanks', () => {
    const text = renderTable(
      [
        { header: 'ID', value: (r: { id: string; name: string }) => r.id },
        { header: 'NAME', value: (r: { id: string; name: string }) => r.name },
      ],
      [
        { id: 's-1', name: 'a-long-name' },
        { id: 's-12345', name: 'x' },
      ],
    );
    expect(text).toBe('ID       NAME\ns-1      a-long-name\ns-12345  x\n');
  });

  it('keeps every row on one line whatever a value holds', () => {
    const text = renderTable([{ header: 'NAME', value: (r: string) => r }], ['two\nlines']);
    expect(text).toBe('NAME\ntwo lines\n');
  });

  it('aligns the values of a summary', () => {
    expect(renderFields([['ID', 'x'], ['Base URL', 'y'], ['Models', '']])).toBe('ID:        x\nBase URL:  y\nModels:\n');
  });

  it('formats times to the second in UTC, and unset ones as -', () => {
    expect(formatTime(new Date('2025-01-02T03:04:05.678Z'))).toBe('2025-01-02 03:04:05Z');
    expect(formatTime(undefined)).toBe('-');
  });

  it('says so when a list is empty', () => {
    expect(usersTable([])).toBe('No users.\n');
    expect(sessionsTable([])).toBe('No sessions.\n');
    expect(tunnelsTable([])).toBe('No tunnels.\n');
    expect(providersTable([])).toBe('No providers.\n');
  });

  it('lists sessions and tunnels with words for statuses', () => {
    const sessions = sessionsTable([{ id: 's-1', name: 'dev', status: SessionStatus.SESSION_STATUS_STOPPED, createTime: new Date('2025-01-02T03:04:05Z'), updateTime: undefined }]);
    expect(sessions).toBe('ID   NAME  STATUS   CREATED               UPDATED\ns-1  dev   stopped  2025-01-02 03:04:05Z  -\n');
    const tunnels = tunnelsTable([tunnel]).split('\n');
    expect(tunnels[0]).toMatch(/^ID\s+NAME\s+SESSION\s+TARGET\s+OPENAI\s+STATUS\s+HEALTHY\s+MODELS\s+STREAMS\s+BASE URL$/);
    expect(tunnels[1]).toMatch(/^t-0001\s+llm\s+dev\s+localhost:8000\s+yes\s+running\s+yes\s+a,b\s+0\s+http:\/\/gw\/t\/t-0001\/v1$/);
    expect(tunnels[1].indexOf('running')).toBe(tunnels[0].indexOf('STATUS'));
  });

  it('summarises one tunnel', () => {
    const text = tunnelFields(tunnel);
    expect(text).toContain('Session:       dev (s-0001)\n');
    expect(text).toContain('Upstream key:  none\n');
    expect(text).toContain('Last check:    2025-01-02 03:04:05Z\n');
    expect(text).toContain('Created:       -\n');
    expect(text).toContain('Streams:       none\n');
  });

  it("shows a tunnel's live streams: a count in lists, one line each in the summary", () => {
    const held: Tunnel = {
      ...tunnel,
      connections: [
        { brokerId: 'broker-a', streamId: '3', since: new Date('2025-01-02T03:00:00Z'), healthy: true, draining: false, agentInstanceId: 'i-1' },
        { brokerId: 'broker-b', streamId: '7', since: new Date('2025-01-02T03:00:01Z'), healthy: false, draining: true, agentInstanceId: 'i-1' },
      ],
    };
    const rows = tunnelsTable([held]).split('\n');
    expect(rows[1].slice(rows[0].indexOf('STREAMS'))).toMatch(/^2 \(1 draining\)\s+http:/);
    const text = tunnelFields(held);
    expect(text).toContain('Streams:       2\n');
    expect(text).toContain('Stream:        broker-a  stream 3  since 2025-01-02 03:00:00Z  healthy\n');
    expect(text).toContain('Stream:        broker-b  stream 7  since 2025-01-02 03:00:01Z  unhealthy  draining\n');
    const providers = providersTable([{ ...held, type: 'openai-tunnel' }]).split('\n');
    expect(providers[0]).toMatch(/\sSTREAMS\s/);
    expect(providers[1].slice(providers[0].indexOf('STREAMS'))).toMatch(/^2 \(1 draining\)\s/);
  });

  it('prints one line per watch event', () => {
    const provider: Provider = { ...tunnel, type: 'openai-tunnel', status: TunnelStatus.TUNNEL_STATUS_WAITING, healthy: false, models: [] };
    const now = new Date('2025-01-02T10:11:12Z');
    expect(providerEventLine(ProviderChange.PROVIDER_CHANGE_ADDED, provider, now)).toBe(
      '10:11:12  added    llm  (t-0001)  waiting  unhealthy  models=-  streams=0  http://gw/t/t-0001/v1\n',
    );
    expect(providerEventLine(ProviderChange.PROVIDER_CHANGE_SYNCED, undefined, now)).toBe('10:11:12  synced\n');
  });
});
