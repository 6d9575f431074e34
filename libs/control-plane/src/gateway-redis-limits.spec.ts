import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@st/logging';
import { TestRedisServer } from '@st/testing';
import { ControlPlane } from './control-plane';
import { type DemoCredentials, prepareDemo } from './demo-bootstrap';
import { loadServerConfig } from './server-config';

/**
 * Two gateway processes' worth of control plane on one Redis: a user's rate limit is one, not one
 * per gateway. The limits are checked before any agent is looked for, so no broker is needed.
 */
describe('gateways with ST_REDIS_URL share the request limits', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'st-gw-limits-'));
  let redis: TestRedisServer;
  const gateways: ControlPlane[] = [];
  let demo: DemoCredentials;

  beforeAll(async () => {
    redis = await TestRedisServer.start();
    for (let i = 0; i < 2; i++) {
      const config = loadServerConfig({
        env: {
          ST_ROLE: 'gateway',
          ST_DATA_DIR: dataDir,
          ST_HTTP_PORT: '0',
          ST_REDIS_URL: redis.url,
          ST_REDIS_PREFIX: 'gwlimits:',
          ST_BROKER_ADDRESS: '127.0.0.1:1',
          ST_SHUTDOWN_GRACE_MS: '100',
          // So slow a refill that only the burst counts during the test.
          ST_LIMIT_USER_RPS: '0.01',
          ST_LIMIT_USER_BURST: '2',
        },
        argv: [],
      });
      gateways.push(await ControlPlane.start(config, silentLogger()));
    }
    demo = await prepareDemo(gateways[0].store);
  });

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await redis?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('the burst is spent across both gateways, then both answer 429 naming the setting', async () => {
    const send = (g: ControlPlane) => fetch(`${g.tunnelBaseUrl(demo.tunnelId)}/models`, { headers: { authorization: `Bearer ${demo.apiKey}` } });
    const statuses: number[] = [];
    const bodies: string[] = [];
    for (const g of [gateways[0], gateways[1], gateways[0], gateways[1]]) {
      const res = await send(g);
      statuses.push(res.status);
      bodies.push(await res.text());
    }
    // The first two pass the limits (and then find no agent); the next two, one per gateway, do not.
    expect(statuses.slice(0, 2).every((s) => s !== 429)).toBe(true);
    expect(statuses.slice(2)).toEqual([429, 429]);
    expect(JSON.parse(bodies[3]).error.message).toContain('ST_LIMIT_USER_RPS');
  });
});
