import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@st/config';
import { RedisPresence, whenReady } from '@st/live-state';
import { silentLogger } from '@st/logging';
import { TestRedisServer } from '@st/testing';
import { brokerIdentity } from './broker-role';
import { ControlPlane } from './control-plane';
import { loadServerConfig } from './server-config';

const load = (env: Record<string, string>) => loadServerConfig({ env, argv: [] });

describe('broker identity', () => {
  it('refuses a wildcard ST_HOST with Redis and no ST_ADVERTISE_ADDRESS, naming the setting', () => {
    for (const host of ['0.0.0.0', '::', '[::]']) {
      const attempt = () => load({ ST_ROLE: 'broker', ST_HOST: host, ST_REDIS_URL: 'redis://127.0.0.1:6390' });
      expect(attempt).toThrow(ConfigError);
      expect(attempt).toThrow(/ST_ADVERTISE_ADDRESS: required with ST_REDIS_URL when ST_HOST is/);
    }
    // Fine: an address to dial is given, or there is no Redis (one broker), or no broker role.
    expect(() => load({ ST_ROLE: 'broker', ST_HOST: '0.0.0.0', ST_REDIS_URL: 'redis://127.0.0.1:6390', ST_ADVERTISE_ADDRESS: '10.1.2.3:50051' })).not.toThrow();
    expect(() => load({ ST_ROLE: 'broker', ST_HOST: '0.0.0.0' })).not.toThrow();
    expect(() => load({ ST_ROLE: 'gateway', ST_HOST: '0.0.0.0', ST_REDIS_URL: 'redis://127.0.0.1:6390' })).not.toThrow();
  });

  it('defaults to <hostname>:<port> and ST_HOST:port; ST_BROKER_ID and ST_ADVERTISE_ADDRESS override', () => {
    expect(brokerIdentity(load({ ST_HOST: '10.0.0.5' }), 7000)).toEqual({ brokerId: `${hostname()}:7000`, advertiseAddress: '10.0.0.5:7000' });
    expect(brokerIdentity(load({ ST_HOST: '::1' }), 7000).advertiseAddress).toBe('[::1]:7000');
    expect(brokerIdentity(load({ ST_BROKER_ID: 'broker-0', ST_ADVERTISE_ADDRESS: 'pod.ns:7443' }), 7000)).toEqual({ brokerId: 'broker-0', advertiseAddress: 'pod.ns:7443' });
    expect(() => load({ ST_BROKER_ID: 'has space' })).toThrow(/ST_BROKER_ID/);
  });
});

describe('a broker process with Redis', () => {
  let redis: TestRedisServer;
  const dataDir = mkdtempSync(join(tmpdir(), 'st-bid-'));

  beforeAll(async () => {
    redis = await TestRedisServer.start();
  });
  afterAll(async () => {
    await redis.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('announces itself under its id and bound port, and withdraws when it stops', async () => {
    const plane = await ControlPlane.start(
      load({ ST_ROLE: 'broker', ST_DATA_DIR: dataDir, ST_GRPC_PORT: '0', ST_REDIS_URL: redis.url, ST_REDIS_PREFIX: 'bid:', ST_SHUTDOWN_GRACE_MS: '200' }),
      silentLogger(),
    );
    const reader = new RedisPresence({ url: redis.url, prefix: 'bid:', logger: silentLogger() });
    try {
      await whenReady(reader.redis, 10_000);
      expect(await reader.liveBrokers()).toEqual([{ brokerId: `${hostname()}:${plane.grpcPort}`, advertiseAddress: `127.0.0.1:${plane.grpcPort}` }]);
      expect(plane.broker?.brokerId).toBe(`${hostname()}:${plane.grpcPort}`);
      await plane.stop();
      expect(await reader.liveBrokers()).toEqual([]);
    } finally {
      await reader.close();
    }
  });
});
