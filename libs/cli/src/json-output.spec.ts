import { describe, expect, it } from 'vitest';
import { ProviderChange, SessionStatus, TunnelStatus, type Provider, type Tunnel } from '@st/proto';
import { enumWord, isoOrNull, jsonLine, providerEventJson, providerJson, sessionJson, tunnelJson, userJson } from './json-output';

const tunnel: Tunnel = {
  id: 't-1',
  name: 'llm',
  sessionId: 's-1',
  sessionName: 'dev',
  remoteHost: 'localhost',
  remotePort: 8000,
  openai: true,
  status: TunnelStatus.TUNNEL_STATUS_WAITING,
  hasUpstreamApiKey: true,
  healthy: false,
  lastHealthCheck: undefined,
  models: ['m1', 'm2'],
  baseUrl: 'http://gw/t/t-1/v1',
  createTime: new Date('2025-01-02T03:04:05.678Z'),
  connections: [],
};

const provider: Provider = {
  id: 't-1',
  name: 'llm',
  type: 'openai-tunnel',
  status: TunnelStatus.TUNNEL_STATUS_RUNNING,
  healthy: true,
  lastHealthCheck: new Date('2025-01-02T03:04:06Z'),
  models: ['m1'],
  baseUrl: 'http://gw/t/t-1/v1',
  sessionId: 's-1',
  sessionName: 'dev',
  connections: [],
};

describe('JSON output', () => {
  it('writes enums as lowercase words without their prefix', () => {
    expect(enumWord(SessionStatus, SessionStatus.SESSION_STATUS_RUNNING, 'SESSION_STATUS_')).toBe('running');
    expect(enumWord(SessionStatus, SessionStatus.SESSION_STATUS_STOPPED, 'SESSION_STATUS_')).toBe('stopped');
    expect(enumWord(SessionStatus, SessionStatus.SESSION_STATUS_UNSPECIFIED, 'SESSION_STATUS_')).toBe('unspecified');
    expect(enumWord(TunnelStatus, TunnelStatus.TUNNEL_STATUS_WAITING, 'TUNNEL_STATUS_')).toBe('waiting');
    expect(enumWord(ProviderChange, ProviderChange.PROVIDER_CHANGE_ADDED, 'PROVIDER_CHANGE_')).toBe('added');
    expect(enumWord(ProviderChange, ProviderChange.PROVIDER_CHANGE_SYNCED, 'PROVIDER_CHANGE_')).toBe('synced');
  });

  it('keeps going on a value a newer server may send', () => {
    expect(enumWord(TunnelStatus, 9, 'TUNNEL_STATUS_')).toBe('unknown-9');
    expect(enumWord(TunnelStatus, TunnelStatus.UNRECOGNIZED, 'TUNNEL_STATUS_')).toBe('unknown');
  });

  it('writes times as ISO strings and unset times as null', () => {
    expect(isoOrNull(new Date('2025-01-02T03:04:05.678Z'))).toBe('2025-01-02T03:04:05.678Z');
    expect(isoOrNull(undefined)).toBeNull();
    expect(isoOrNull(new Date(Number.NaN))).toBeNull();
  });

  it('shapes users and sessions', () => {
    expect(userJson({ id: 'u-1', name: 'alice', createTime: undefined })).toEqual({ id: 'u-1', name: 'alice', createTime: null });
    const session = sessionJson({
      id: 's-1',
      name: 'dev',
      status: SessionStatus.SESSION_STATUS_RUNNING,
      createTime: new Date('2025-01-02T03:04:05Z'),
      updateTime: undefined,
    });
    expect(JSON.stringify(session)).toBe('{"id":"s-1","name":"dev","status":"running","createTime":"2025-01-02T03:04:05.000Z","updateTime":null}');
  });

  it('shapes a tunnel with every field, camelCase, in a fixed order', () => {
    expect(JSON.stringify(tunnelJson(tunnel))).toBe(
      '{"id":"t-1","name":"llm","sessionId":"s-1","sessionName":"dev","remoteHost":"localhost","remotePort":8000,"openai":true,' +
        '"status":"waiting","hasUpstreamApiKey":true,"healthy":false,"lastHealthCheck":null,"models":["m1","m2"],' +
        '"baseUrl":"http://gw/t/t-1/v1","createTime":"2025-01-02T03:04:05.678Z","connections":[]}',
    );
  });

  it('shapes providers and watch events', () => {
    expect(providerJson(provider)).toEqual({
      id: 't-1',
      name: 'llm',
      type: 'openai-tunnel',
      status: 'running',
      healthy: true,
      lastHealthCheck: '2025-01-02T03:04:06.000Z',
      models: ['m1'],
      baseUrl: 'http://gw/t/t-1/v1',
      sessionId: 's-1',
      sessionName: 'dev',
      connections: [],
    });
    expect(providerEventJson(ProviderChange.PROVIDER_CHANGE_UPDATED, provider)).toEqual({ change: 'updated', provider: providerJson(provider) });
    expect(providerEventJson(ProviderChange.PROVIDER_CHANGE_REMOVED, provider).change).toBe('removed');
    expect(providerEventJson(ProviderChange.PROVIDER_CHANGE_SYNCED, undefined)).toEqual({ change: 'synced', provider: null });
  });

  it("lists a tunnel's and a provider's live streams with their broker, start time and state", () => {
    const connections = [{ brokerId: 'broker-a', streamId: '3', since: new Date('2025-01-02T03:00:00Z'), healthy: true, draining: false, agentInstanceId: 'i-1' }];
    const expected = [{ brokerId: 'broker-a', streamId: '3', since: '2025-01-02T03:00:00.000Z', healthy: true, draining: false, agentInstanceId: 'i-1' }];
    expect(tunnelJson({ ...tunnel, connections }).connections).toEqual(expected);
    expect(providerJson({ ...provider, connections }).connections).toEqual(expected);
    expect(JSON.stringify(tunnelJson({ ...tunnel, connections }).connections[0])).toBe(
      '{"brokerId":"broker-a","streamId":"3","since":"2025-01-02T03:00:00.000Z","healthy":true,"draining":false,"agentInstanceId":"i-1"}',
    );
  });

  it('prints one object on one line', () => {
    expect(jsonLine({ a: 'x\ny', b: [1] })).toBe('{"a":"x\\ny","b":[1]}\n');
  });
});
