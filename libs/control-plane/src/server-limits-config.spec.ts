import { ConfigError } from '@st/config';
import { describe, expect, it } from 'vitest';
import { loadServerConfig } from './server-config';

const load = (env: Record<string, string>) => loadServerConfig({ env, argv: [] });

describe('st-server limit settings', () => {
  it('have the documented defaults', () => {
    expect(load({})).toMatchObject({
      bodyIdleTimeoutMs: 30_000,
      bodyMinRate: 1024,
      bodyRateWindowMs: 30_000,
      headerTimeoutMs: 10_000,
      maxConnections: 4096,
      keepAliveTimeoutMs: 5_000,
      maxRequestsPerConnection: 1000,
      maxWatchesPerUser: 16,
      limitTunnelConcurrency: 256,
      limitUserConcurrency: 512,
      limitUserRps: 100,
      limitUserBurst: 400,
      maxStreamsPerTunnel: 4,
    });
  });

  it('take 0 for no limit, sizes with suffixes and fractional rates', () => {
    expect(load({ ST_LIMIT_USER_RPS: '0.5', ST_LIMIT_TUNNEL_CONCURRENCY: '0', ST_MAX_CONNECTIONS: '0', ST_BODY_MIN_RATE: '4k' })).toMatchObject({
      limitUserRps: 0.5,
      limitTunnelConcurrency: 0,
      maxConnections: 0,
      bodyMinRate: 4096,
    });
  });

  it('refuse bad values, naming the setting', () => {
    expect(() => load({ ST_LIMIT_USER_BURST: '-1' })).toThrow(ConfigError);
    expect(() => load({ ST_LIMIT_USER_BURST: '-1' })).toThrow(/ST_LIMIT_USER_BURST: expected 0 \(no limit\) or more/);
    expect(() => load({ ST_MAX_STREAMS_PER_TUNNEL: 'four' })).toThrow(/ST_MAX_STREAMS_PER_TUNNEL: expected a whole number \(0 = no limit\)/);
    expect(() => load({ ST_LIMIT_USER_RPS: 'fast' })).toThrow(/ST_LIMIT_USER_RPS: expected a number of requests per second/);
    expect(() => load({ ST_HEADER_TIMEOUT_MS: '0' })).toThrow(/ST_HEADER_TIMEOUT_MS/);
  });
});
