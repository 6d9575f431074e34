import { CLOSED_EXCHANGE } from '@st/broker';
import { NO_AGENT_VIEW } from '@st/live-state';
import { silentLogger } from '@st/logging';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gateway } from './gateway-server';

// A Kubernetes readiness probe on /readyz: a gateway routing from stale presence (Redis down)
// stays in service, and says why it is degraded.
let degraded: string | undefined;
let gateway: Gateway;
let base: string;

beforeAll(async () => {
  gateway = new Gateway({
    store: {
      authenticateApiKey: () => Promise.resolve(null),
      getTunnelForUser: () => Promise.resolve(null),
      getTunnelByName: () => Promise.resolve(null),
      getSession: () => Promise.resolve(null),
      listTunnels: () => Promise.resolve([]),
    },
    opener: { open: () => CLOSED_EXCHANGE },
    runtime: { viewOf: () => Promise.resolve(NO_AGENT_VIEW) },
    logger: silentLogger(),
    maxBodyBytes: 1024,
    firstByteTimeoutMs: 1_000,
    idleTimeoutMs: 1_000,
    degraded: () => degraded,
  });
  base = `http://127.0.0.1:${await gateway.listen('127.0.0.1', 0)}`;
});

afterAll(() => gateway.close(0));

describe('gateway readiness', () => {
  it('is ready and ok while live state is reachable', async () => {
    degraded = undefined;
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('stays ready (200) but says degraded, and why, while Redis is unreachable', async () => {
    degraded = 'Redis is unreachable: routing from the last known presence (ST_REDIS_URL)';
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'degraded', reason: degraded });
    // Liveness is not readiness: the process itself is fine.
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
  });
});
