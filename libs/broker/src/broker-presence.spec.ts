import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type PresenceEntry, RedisPresence, whenReady } from '@st/live-state';
import { silentLogger } from '@st/logging';
import { TestRedisServer, waitUntil } from '@st/testing';
import type { TunnelRuntimeChange } from './broker';
import { type BrokerHarness, FakeAgent, TUNNEL, startBroker } from './testing/broker-harness';

/** Broker and RedisPresence together: what a gateway in another process reads, and when. */
let redis: TestRedisServer;
const closing: (() => unknown)[] = [];

beforeAll(async () => {
  redis = await TestRedisServer.start();
});
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});
afterAll(() => redis.stop());

async function presence(server: TestRedisServer, prefix: string, ms: { leaseMs?: number; refreshMs?: number } = {}): Promise<RedisPresence> {
  const p = new RedisPresence({ url: server.url, prefix, logger: silentLogger(), ...ms });
  closing.push(() => p.close());
  await whenReady(p.redis, 10_000);
  return p;
}

/** Every change the broker announced, with what presence said when a listener read it right after. */
interface Seen {
  change: TunnelRuntimeChange;
  read: Promise<PresenceEntry[]>;
}

async function brokerOn(server: TestRedisServer, prefix: string, brokerId = 'b1', ms: { leaseMs?: number; refreshMs?: number } = {}) {
  const own = await presence(server, prefix, ms);
  const gateway = await presence(server, prefix);
  const seen: Seen[] = [];
  const h: BrokerHarness = await startBroker({
    brokerId,
    presence: own,
    onTunnelChange: (tunnelId, _userId, change) => seen.push({ change, read: gateway.streamsOf(tunnelId).catch(() => []) }),
  });
  closing.push(() => h.close());
  return { h, own, gateway, seen };
}

describe('Broker in presence', () => {
  it('lists a stream once routable, with its identity and health, before telling the feed; updates health; removes it on close', async () => {
    const previousRun = await presence(redis, 'bp1:');
    await previousRun.put({ tunnelId: TUNNEL.id, brokerId: 'b1', advertiseAddress: '10.0.0.9:1', streamId: 'left-over', agentInstanceId: 'x', connectionEpoch: 1, since: new Date(0), draining: false });
    const { h, gateway, seen } = await brokerOn(redis, 'bp1:');
    await h.broker.advertise({ brokerId: 'b1', advertiseAddress: '10.0.0.1:7443' });
    expect(await gateway.streamsOf(TUNNEL.id)).toEqual([]); // the previous run's entry was cleared

    const agent = new FakeAgent(h.client, 'agent-1', 3, true);
    await agent.welcome();
    expect(seen).toEqual([]); // not routable before its first health report
    agent.reportHealth(true, ['m1']);
    await waitUntil('the agent change', () => seen.length === 1);
    expect(seen[0].change).toBe('agent');
    const [listed] = await seen[0].read;
    const [connection] = (await h.broker.viewOf(TUNNEL.id)).connections;
    expect(listed).toMatchObject({
      tunnelId: TUNNEL.id,
      brokerId: 'b1',
      advertiseAddress: '10.0.0.1:7443',
      streamId: connection.streamId,
      agentInstanceId: 'agent-1',
      connectionEpoch: 3,
      draining: false,
      load: 0,
      health: { healthy: true, models: ['m1'], error: '' },
    });
    expect(listed.since).toEqual(connection.since);

    agent.reportHealth(false, [], 'connection refused');
    await waitUntil('the health change', () => seen.length === 2);
    expect(seen[1].change).toBe('health');
    expect((await seen[1].read)[0].health).toMatchObject({ healthy: false, error: 'connection refused' });

    agent.halfClose();
    await waitUntil('the stream’s departure', () => seen.length === 3);
    expect(seen[2].change).toBe('agent');
    expect(await seen[2].read).toEqual([]);
  });

  it('writes a stream admitted before the broker was advertised only after clearing the previous run', async () => {
    const previousRun = await presence(redis, 'bp5:');
    await previousRun.put({ tunnelId: TUNNEL.id, brokerId: 'b1', advertiseAddress: '10.0.0.9:1', streamId: 'left-over', agentInstanceId: 'x', connectionEpoch: 1, since: new Date(0), draining: false });
    const { h, gateway, seen } = await brokerOn(redis, 'bp5:');
    new FakeAgent(h.client, 'agent-1', 1);
    await waitUntil('the stream to be routable', () => h.broker.isConnected(TUNNEL.id));
    expect(seen).toEqual([]); // its write (and so its event) waits for the broker's identity
    await h.broker.advertise({ brokerId: 'b1', advertiseAddress: '10.0.0.1:7443' });
    await waitUntil('the agent change', () => seen.length === 1);
    expect((await seen[0].read).map((e) => e.agentInstanceId)).toEqual(['agent-1']);
    expect((await gateway.streamsOf(TUNNEL.id)).map((e) => e.agentInstanceId)).toEqual(['agent-1']);
  });

  it('says draining in presence when the broker shuts down, and leaves nothing behind', async () => {
    const { h, gateway, seen } = await brokerOn(redis, 'bp2:');
    await h.broker.advertise({ brokerId: 'b1', advertiseAddress: '10.0.0.1:7443' });
    const agent = new FakeAgent(h.client, 'agent-1', 1);
    await waitUntil('the stream in presence', async () => (await gateway.streamsOf(TUNNEL.id)).length === 1);
    const stopped = h.broker.shutdown(60_000);
    await waitUntil('the drain', () => agent.drained);
    await waitUntil('the draining change', () => seen.length === 2);
    expect((await seen[1].read).map((e) => e.draining)).toEqual([true]);
    expect((await gateway.liveBrokers()).map((b) => b.brokerId)).toEqual([]);
    agent.halfClose();
    await stopped;
    expect(await gateway.streamsOf(TUNNEL.id)).toEqual([]);
  });

  it('tells agents how many brokers are live', async () => {
    const other = await presence(redis, 'bp3:');
    await other.announceBroker('b2', '10.0.0.2:7443');
    const { h } = await brokerOn(redis, 'bp3:');
    await h.broker.advertise({ brokerId: 'b1', advertiseAddress: '10.0.0.1:7443' });
    expect((await new FakeAgent(h.client, 'agent-1', 1).welcome()).liveBrokers).toBe(2);
  });

  it('keeps serving its streams while Redis is down, and writes them again once it is back', async () => {
    const own = await TestRedisServer.start();
    closing.push(() => own.stop());
    const { h, own: writer, seen } = await brokerOn(own, 'bp4:', 'b1', { leaseMs: 2_000, refreshMs: 100 });
    writer.start();
    await h.broker.advertise({ brokerId: 'b1', advertiseAddress: '10.0.0.1:7443' });
    await own.stop();
    const agent = new FakeAgent(h.client, 'agent-1', 1);
    await waitUntil('the stream to be routable with Redis down', () => h.broker.isConnected(TUNNEL.id));
    // The change is still announced (in this process) once the write failed.
    await waitUntil('the agent change', () => seen.length === 1);
    // Welcome travels over the wire after the broker's bookkeeping: wait for it, do not race it.
    await waitUntil('the Welcome at the agent', () => agent.frames.some((f) => f.frame?.$case === 'welcome'));

    await own.restart();
    const reader = await presence(own, 'bp4:');
    await waitUntil('the refresh to write the stream again', async () => (await reader.streamsOf(TUNNEL.id)).length === 1, 15_000);
  });
});
