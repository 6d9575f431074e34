import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { whenReady } from '@st/live-state';
import { silentLogger } from '@st/logging';
import { TestRedisServer, capturingLogger, closedPort, waitUntil } from '@st/testing';
import type { LimitKey, RequestLimits } from './limit-counters';
import { RedisLimitCounters, type RedisLimitCountersOptions } from './redis-limit-counters';
import { RequestLimiter } from './request-limiter';

let redis: TestRedisServer;
const open: RedisLimitCounters[] = [];

beforeAll(async () => {
  redis = await TestRedisServer.start();
});

afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await redis.stop();
});

/** One "gateway"'s counters on the test's Redis, under the test's own prefix. */
async function gateway(prefix: string, options: Partial<RedisLimitCountersOptions> = {}): Promise<RedisLimitCounters> {
  const counters = new RedisLimitCounters({ url: redis.url, prefix, logger: silentLogger(), ...options });
  open.push(counters);
  if (!options.url) await whenReady(counters.redis, 10_000);
  counters.start();
  return counters;
}

const NONE: RequestLimits = { tunnelConcurrency: 0, userConcurrency: 0, userRps: 0, userBurst: 0 };
const alice: LimitKey = { userId: 'alice', tunnelId: 'tun-a' };

describe('RedisLimitCounters', () => {
  it('two gateways share the tunnel and user concurrency limits, and releases free the slots', async () => {
    const a = await gateway('conc:');
    const b = await gateway('conc:');
    const limits = { ...NONE, tunnelConcurrency: 2, userConcurrency: 3 };

    expect(await a.admit(alice, limits)).toEqual({ admitted: true });
    expect(await b.admit(alice, limits)).toEqual({ admitted: true });
    expect(await a.admit(alice, limits)).toMatchObject({ admitted: false, limit: 'tunnel_concurrency' });
    expect(await b.admit(alice, limits)).toMatchObject({ admitted: false, limit: 'tunnel_concurrency' });

    // Another tunnel of the same user: only the user's third slot is left.
    const other = { userId: 'alice', tunnelId: 'tun-b' };
    expect(await b.admit(other, limits)).toEqual({ admitted: true });
    expect(await a.admit(other, limits)).toMatchObject({ admitted: false, limit: 'user_concurrency' });

    a.release(alice);
    await waitUntil('the released slot counts no more', async () => (await b.admit(alice, limits)).admitted, 5_000);
    expect(a.heldCount).toBe(0);
    expect(b.heldCount).toBe(3);
  });

  it('the user rate bucket is one across gateways, and the 429 says when to retry', async () => {
    const a = await gateway('rate:');
    const b = await gateway('rate:');
    // A rate so slow that no token comes back during the test: only the burst counts.
    const limits = { ...NONE, userRps: 0.01, userBurst: 3 };
    const results = [await a.admit(alice, limits), await b.admit(alice, limits), await a.admit(alice, limits), await b.admit(alice, limits)];
    expect(results.map((r) => r.admitted)).toEqual([true, true, true, false]);
    const refused = results[3];
    expect(refused).toMatchObject({ admitted: false, limit: 'user_rate' });
    expect(refused.admitted === false && refused.retryAfterMs).toBeGreaterThan(90_000);

    // Through the limiter, as the gateway answers it: OpenAI's 429 naming the settings.
    const limiter = new RequestLimiter(b, limits);
    const answer = await limiter.admit('alice', 'tun-a');
    expect(answer).toMatchObject({ kind: 'rate_limited', retryAfterSeconds: 100 });
    expect((answer as Error).message).toContain('ST_LIMIT_USER_RPS');
  });

  it('a slot held by a gateway that is killed expires by itself; a live holder keeps it', async () => {
    const short = { leaseMs: 1_500, renewMs: 300 };
    const holder = await gateway('lease:', short);
    const survivor = await gateway('lease:', short);
    const limits = { ...NONE, tunnelConcurrency: 1 };
    expect(await holder.admit(alice, limits)).toEqual({ admitted: true });

    // While the holder lives it renews: well past one lease the slot is still taken.
    const start = holder.renewals;
    await waitUntil('the holder renewed across more than one lease', () => holder.renewals >= start + 8, 20_000);
    expect(await survivor.admit(alice, limits)).toMatchObject({ admitted: false, limit: 'tunnel_concurrency' });

    // Killed: no release, no renewal. The slot must free itself within its lease.
    await holder.close();
    const killedAt = performance.now();
    await waitUntil('the dead gateway’s slot expired', async () => (await survivor.admit(alice, limits)).admitted, 20_000);
    expect(performance.now() - killedAt).toBeLessThan(15_000);
  });

  it('Redis down: admissions fail open, with one warning naming ST_REDIS_URL', async () => {
    const { logger, lines } = capturingLogger();
    const counters = await gateway('down:', { url: `redis://127.0.0.1:${await closedPort()}`, logger });
    const limits = { ...NONE, tunnelConcurrency: 1, userRps: 1, userBurst: 1 };
    // The first waits for the connection a new gateway is making (at most 1 s); the others do not
    // wait again: four waits would take 4 s.
    expect(await counters.admit(alice, limits)).toEqual({ admitted: true });
    const after = performance.now();
    for (let i = 0; i < 4; i++) expect(await counters.admit(alice, limits)).toEqual({ admitted: true });
    expect(performance.now() - after).toBeLessThan(3_000);
    counters.release(alice);
    await waitUntil('the warning was written', () => lines.some((l) => l.msg.includes('request limits unchecked')), 5_000);
    expect(lines.filter((l) => l.msg.includes('request limits unchecked'))).toHaveLength(1);
    expect(lines.find((l) => l.msg.includes('request limits unchecked'))?.msg).toContain('ST_REDIS_URL');
  });

  it('slots admitted while Redis was away count again once it is back', async () => {
    const own = await TestRedisServer.start();
    try {
      const short = { leaseMs: 3_000, renewMs: 200 };
      const a = new RedisLimitCounters({ url: own.url, prefix: 'back:', logger: silentLogger(), ...short });
      const b = new RedisLimitCounters({ url: own.url, prefix: 'back:', logger: silentLogger(), ...short });
      open.push(a, b);
      await whenReady(a.redis, 10_000);
      await whenReady(b.redis, 10_000);
      a.start();
      await own.stop();
      const limits = { ...NONE, tunnelConcurrency: 1 };
      expect(await a.admit(alice, limits)).toEqual({ admitted: true });
      await own.restart();
      await waitUntil(
        'the open request counts again',
        async () => {
          const probe = await b.admit(alice, limits);
          if (probe.admitted) b.release(alice);
          return !probe.admitted;
        },
        20_000,
      );
    } finally {
      await own.stop();
    }
  });
});
