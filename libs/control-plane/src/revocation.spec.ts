import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisChangeFeed } from '@st/live-state';
import { silentLogger } from '@st/logging';
import type { Store, Tunnel } from '@st/store';
import { TestRedisServer, waitUntil } from '@st/testing';
import { type StreamDropper, startRevocation } from './revocation';

/**
 * Revocation across processes: discovery (or stctl through it) publishes on its own feed; the
 * broker's revocation, on another RedisChangeFeed, drops the streams. The store is a stand-in
 * with just what revocation reads.
 */
let redis: TestRedisServer;
const feeds: RedisChangeFeed[] = [];

beforeAll(async () => {
  redis = await TestRedisServer.start();
});
afterAll(async () => {
  await Promise.all(feeds.map((f) => f.close()));
  await redis.stop();
});

async function feed(prefix: string): Promise<RedisChangeFeed> {
  const f = new RedisChangeFeed({ url: redis.url, prefix, logger: silentLogger() });
  feeds.push(f);
  await f.ready();
  return f;
}

interface Drop {
  tunnelId: string;
  reason: string;
  code?: status;
}

function recordingBroker(): StreamDropper & { drops: Drop[]; forgotten: string[] } {
  const drops: Drop[] = [];
  const forgotten: string[] = [];
  return {
    drops,
    forgotten,
    disconnectTunnel: (tunnelId, reason, code) => drops.push({ tunnelId, reason, code }),
    forgetTunnel: (tunnelId) => forgotten.push(tunnelId),
  };
}

function storeWith(tunnels: Partial<Tunnel>[]): Store {
  return {
    listTunnelsOfSession: (_userId: string, sessionId: string) => Promise.resolve(tunnels.filter((t) => t.sessionId === sessionId) as Tunnel[]),
    getTunnel: (id: string) => Promise.resolve((tunnels.find((t) => t.id === id) as Tunnel | undefined) ?? null),
  } as unknown as Store;
}

async function pair(prefix: string, tunnels: Partial<Tunnel>[]) {
  const discovery = await feed(prefix);
  const brokerFeed = await feed(prefix);
  const broker = recordingBroker();
  startRevocation(brokerFeed, storeWith(tunnels), broker, silentLogger());
  return { discovery, broker };
}

describe('revocation across processes (Redis change feed)', () => {
  it('drops the streams of every tunnel of a session stopped in another process', async () => {
    const { discovery, broker } = await pair('rv1:', [
      { id: 'tun_a', sessionId: 'ses_1', state: 'started' } as Partial<Tunnel>,
      { id: 'tun_b', sessionId: 'ses_1', state: 'started' } as Partial<Tunnel>,
      { id: 'tun_c', sessionId: 'ses_2', state: 'started' } as Partial<Tunnel>,
    ]);
    discovery.publish({ kind: 'session', userId: 'usr_1', sessionId: 'ses_1', reason: 'stopped' });
    await waitUntil('both tunnels of the session dropped', () => broker.drops.length === 2);
    expect(broker.drops.map((d) => d.tunnelId).sort()).toEqual(['tun_a', 'tun_b']);
    expect(broker.drops[0].reason).toMatch(/session ses_1 was stopped: restart the session/);
  });

  it('drops a rotated token’s streams with UNAUTHENTICATED, so st-agent exits instead of retrying', async () => {
    const { discovery, broker } = await pair('rv2:', []);
    discovery.publish({ kind: 'tunnel', userId: 'usr_1', tunnelId: 'tun_a', reason: 'token_rotated' });
    await waitUntil('the streams dropped', () => broker.drops.length === 1);
    expect(broker.drops[0]).toMatchObject({ tunnelId: 'tun_a', code: status.UNAUTHENTICATED });
    expect(broker.drops[0].reason).toMatch(/rotate-token/);
  });

  it('on "updated", reads the store: drops a stopped tunnel’s streams, keeps a started one’s', async () => {
    const { discovery, broker } = await pair('rv3:', [
      { id: 'tun_stopped', sessionId: 'ses_1', state: 'stopped' } as Partial<Tunnel>,
      { id: 'tun_started', sessionId: 'ses_1', state: 'started' } as Partial<Tunnel>,
    ]);
    discovery.publish({ kind: 'tunnel', userId: 'usr_1', tunnelId: 'tun_started', reason: 'updated' });
    discovery.publish({ kind: 'tunnel', userId: 'usr_1', tunnelId: 'tun_stopped', reason: 'updated' });
    discovery.publish({ kind: 'tunnel', userId: 'usr_1', tunnelId: 'tun_gone', reason: 'deleted' });
    await waitUntil('the deleted tunnel handled (events are handled in order)', () => broker.forgotten.includes('tun_gone'));
    expect(broker.drops.map((d) => d.tunnelId)).toEqual(['tun_stopped', 'tun_gone']);
    expect(broker.drops[0].reason).toMatch(/tunnel tun_stopped was stopped: start the tunnel again/);
  });
});
