import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@st/logging';
import { TestRedisServer, closedPort, waitUntil } from '@st/testing';
import { LiveStateUnavailableError } from './live-state-error';
import type { PresenceEntry } from './presence-entry';
import { RedisPresence } from './redis-presence';
import { whenReady } from './redis-client';

let redis: TestRedisServer;
const open: RedisPresence[] = [];

beforeAll(async () => {
  redis = await TestRedisServer.start();
});

afterAll(async () => {
  await Promise.all(open.map((p) => p.close()));
  await redis.stop();
});

async function presence(options: { prefix?: string; leaseMs?: number; refreshMs?: number; url?: string } = {}): Promise<RedisPresence> {
  const p = new RedisPresence({ url: options.url ?? redis.url, prefix: options.prefix ?? 'test:', logger: silentLogger(), leaseMs: options.leaseMs, refreshMs: options.refreshMs });
  open.push(p);
  if (!options.url) await whenReady(p.redis, 10_000);
  return p;
}

function entry(overrides: Partial<PresenceEntry> = {}): PresenceEntry {
  return {
    tunnelId: 'tun-1',
    brokerId: 'broker-a',
    advertiseAddress: '10.0.0.1:7443',
    streamId: 's1',
    agentInstanceId: 'agent-x',
    connectionEpoch: 1,
    since: new Date(1_700_000_000_000),
    draining: false,
    ...overrides,
  };
}

describe('RedisPresence', () => {
  it('puts, lists, updates and removes a tunnel’s streams', async () => {
    const broker = await presence({ prefix: 'crud:' });
    const reader = await presence({ prefix: 'crud:' });
    await broker.put(entry());
    await broker.put(entry({ streamId: 's2', brokerId: 'broker-a', connectionEpoch: 2 }));
    await broker.put(entry({ tunnelId: 'tun-2', streamId: 's1' }));

    const streams = await reader.streamsOf('tun-1');
    expect(streams.map((s) => s.streamId).sort()).toEqual(['s1', 's2']);
    expect(streams.find((s) => s.streamId === 's1')).toEqual(entry());

    const checkedAt = new Date('2026-01-02T03:04:05.000Z');
    expect(await broker.update('broker-a', 'tun-1', 's1', { draining: true, health: { healthy: true, models: ['m1'], error: '', checkedAt } })).toBe(true);
    const updated = (await reader.streamsOf('tun-1')).find((s) => s.streamId === 's1');
    expect(updated?.draining).toBe(true);
    expect(updated?.health).toEqual({ healthy: true, models: ['m1'], error: '', checkedAt });
    expect(await broker.update('broker-a', 'tun-1', 'nope', { draining: true })).toBe(false);

    await broker.remove('broker-a', 'tun-1', 's1');
    expect((await reader.streamsOf('tun-1')).map((s) => s.streamId)).toEqual(['s2']);
    expect((await reader.streamsOf('tun-2')).map((s) => s.streamId)).toEqual(['s1']);
    expect(await reader.streamsOf('unknown')).toEqual([]);
  });

  it('keeps a refreshed entry past its lease and drops a killed broker’s entry when the lease ends', async () => {
    const alive = await presence({ prefix: 'lease:', leaseMs: 300, refreshMs: 50 });
    const killed = await presence({ prefix: 'lease:', leaseMs: 300, refreshMs: 50 });
    const reader = await presence({ prefix: 'lease:' });
    alive.start();
    killed.start();
    await alive.put(entry({ brokerId: 'alive' }));
    await killed.put(entry({ brokerId: 'killed' }));
    expect((await reader.streamsOf('tun-1')).length).toBe(2);

    killed.stopRefreshing(); // what a kill -9 leaves: nobody renews the lease
    await waitUntil('the killed broker’s entry to expire', async () => {
      const streams = await reader.streamsOf('tun-1');
      return streams.length === 1 && streams[0].brokerId === 'alive';
    }, 10_000);
    // The refreshed one outlived several of its leases.
    await new Promise((r) => setTimeout(r, 700));
    expect((await reader.streamsOf('tun-1')).map((s) => s.brokerId)).toEqual(['alive']);
  });

  it('clearBroker removes what a previous run of that broker left, and only that', async () => {
    const previousRun = await presence({ prefix: 'clear:' });
    const other = await presence({ prefix: 'clear:' });
    await previousRun.put(entry({ brokerId: 'b1', tunnelId: 't1' }));
    await previousRun.put(entry({ brokerId: 'b1', tunnelId: 't2' }));
    await other.put(entry({ brokerId: 'b2', tunnelId: 't1' }));

    const restarted = await presence({ prefix: 'clear:' });
    expect(await restarted.clearBroker('b1')).toBe(2);
    expect((await restarted.streamsOf('t1')).map((s) => s.brokerId)).toEqual(['b2']);
    expect(await restarted.streamsOf('t2')).toEqual([]);
    expect(await restarted.clearBroker('b1')).toBe(0);
  });

  it('counts the brokers whose heartbeat is live: a killed one drops out after its lease, a withdrawn one at once', async () => {
    const a = await presence({ prefix: 'beat:', leaseMs: 400, refreshMs: 50 });
    const b = await presence({ prefix: 'beat:', leaseMs: 400, refreshMs: 50 });
    const c = await presence({ prefix: 'beat:', leaseMs: 400, refreshMs: 50 });
    expect(a.liveBrokerCount).toBe(1); // nothing known yet: this broker alone
    expect(await a.announceBroker('a', '10.0.0.1:1')).toBe(1);
    expect(await b.announceBroker('b', '10.0.0.2:1')).toBe(2);
    expect(await c.announceBroker('c', '10.0.0.3:1')).toBe(3);
    expect(c.liveBrokerCount).toBe(3);
    a.start();
    b.start();
    expect((await a.liveBrokers()).map((x) => `${x.brokerId}@${x.advertiseAddress}`)).toEqual(['a@10.0.0.1:1', 'b@10.0.0.2:1', 'c@10.0.0.3:1']);

    // c is killed (nobody renews it); b shuts down and withdraws.
    await b.withdrawBroker('b');
    expect((await a.liveBrokers()).map((x) => x.brokerId)).toEqual(['a', 'c']);
    await waitUntil('c’s heartbeat to expire and a’s count to say so', async () => (await a.liveBrokers()).length === 1 && a.liveBrokerCount === 1, 10_000);
    expect((await a.liveBrokers()).map((x) => x.brokerId)).toEqual(['a']);
    // b stopped announcing itself when it withdrew.
    await new Promise((r) => setTimeout(r, 500));
    expect((await a.liveBrokers()).map((x) => x.brokerId)).toEqual(['a']);
  });

  it('two prefixes on one server do not see each other', async () => {
    const a = await presence({ prefix: 'iso-a:' });
    const b = await presence({ prefix: 'iso-b:' });
    await a.put(entry({ brokerId: 'ba' }));
    await b.put(entry({ brokerId: 'bb' }));
    expect((await a.streamsOf('tun-1')).map((s) => s.brokerId)).toEqual(['ba']);
    expect((await b.streamsOf('tun-1')).map((s) => s.brokerId)).toEqual(['bb']);
    await b.clearBroker('ba');
    expect((await a.streamsOf('tun-1')).map((s) => s.brokerId)).toEqual(['ba']);
  });

  it('rejects promptly with LiveStateUnavailableError when Redis is down, and a refresh never throws', async () => {
    const p = await presence({ url: `redis://127.0.0.1:${await closedPort()}` });
    const started = performance.now();
    const err = await p.streamsOf('tun-1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LiveStateUnavailableError);
    expect((err as Error).message).toMatch(/ST_REDIS_URL/);
    // Fails at once (no offline queue); the bound is generous for a busy machine.
    expect(performance.now() - started).toBeLessThan(5_000);
    await expect(p.put(entry())).rejects.toBeInstanceOf(LiveStateUnavailableError);
    await expect(p.refresh()).resolves.toBe(false);
  });
});

