import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@st/logging';
import { TestRedisServer, connectDiscoveryClient, watchProvidersConnect } from '@st/testing';
import { ControlPlane } from './control-plane';
import { loadServerConfig } from './server-config';

/**
 * A discovery process cut off from Redis misses the events other replicas publish meanwhile. Once
 * its feed is subscribed again, each open watch must recompute its providers and send what changed,
 * or a browser would show a stale provider until the next event about it.
 */
describe('discovery watches after a Redis outage', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'st-resync-'));
  let redis: TestRedisServer;
  let plane: ControlPlane;

  beforeAll(async () => {
    redis = await TestRedisServer.start();
    const env = { ST_DATA_DIR: dataDir, ST_ROLE: 'discovery', ST_REDIS_URL: redis.url, ST_HOST: '127.0.0.1', ST_HTTP_PORT: '0', ST_GRPC_PORT: '0', ST_PUBLIC_URL: 'http://gw.test' };
    plane = await ControlPlane.start(loadServerConfig({ env, argv: [] }), silentLogger());
    await plane.live.redisFeed!.ready();
  });

  afterAll(async () => {
    await plane?.stop();
    await redis?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('sends the changes it missed once its feed is back, and nothing for what did not change', async () => {
    const { store } = plane;
    const user = await store.createUser('ann');
    const { apiKey } = await store.createApiKey(user.id);
    const session = await store.createSession(user.id, 'lab');
    const { tunnel: kept } = await store.createTunnel({ userId: user.id, name: 'kept', sessionId: session.id, openai: true });
    const { tunnel: stopped } = await store.createTunnel({ userId: user.id, name: 'stopped', sessionId: session.id, openai: true });
    const watch = watchProvidersConnect(connectDiscoveryClient(`http://127.0.0.1:${plane.discoveryHttpPort}`), apiKey);
    try {
      await watch.waitFor('SYNCED', (e) => e.change === 'SYNCED');
      expect(watch.describe()).toEqual(['ADDED kept waiting', 'ADDED stopped waiting', 'SYNCED']);

      await redis.stop();
      // Another replica's writes while this one hears nothing: in the store, their events lost.
      await store.setTunnelState(user.id, stopped.id, 'stopped');
      const { tunnel: added } = await store.createTunnel({ userId: user.id, name: 'added', sessionId: session.id, openai: true });
      await redis.restart();

      const from = watch.events.length;
      await watch.waitFor('the missed stop', (e) => e.change === 'UPDATED' && e.provider?.id === stopped.id, from, 15_000);
      await watch.waitFor('the missed tunnel', (e) => e.change === 'ADDED' && e.provider?.id === added.id, from, 5_000);
      // In the order of a listing (by name), as a fresh watch would have them.
      expect(watch.describe(watch.events.slice(from))).toEqual(['ADDED added waiting', 'UPDATED stopped stopped']);
      expect(watch.events.slice(from).some((e) => e.provider?.id === kept.id)).toBe(false);
      expect(watch.end).toBeUndefined();
    } finally {
      watch.close();
    }
  }, 40_000);
});
