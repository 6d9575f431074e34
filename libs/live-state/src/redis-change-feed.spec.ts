import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlEvent } from '@st/events';
import { createLogger, silentLogger } from '@st/logging';
import { TestRedisServer, closedPort, waitUntil } from '@st/testing';
import { RedisChangeFeed } from './redis-change-feed';

let redis: TestRedisServer;
const open: RedisChangeFeed[] = [];

beforeAll(async () => {
  redis = await TestRedisServer.start();
});

afterAll(async () => {
  await Promise.all(open.map((f) => f.close()));
  await redis.stop();
});

async function feed(prefix = 'feed:', logger = silentLogger()): Promise<RedisChangeFeed> {
  const f = new RedisChangeFeed({ url: redis.url, prefix, logger });
  open.push(f);
  await f.ready();
  return f;
}

const tunnelEvent = (i: number): ControlEvent => ({ kind: 'tunnel', userId: 'u1', tunnelId: `t${i}`, reason: 'updated' });

function record(f: RedisChangeFeed): ControlEvent[] {
  const seen: ControlEvent[] = [];
  f.subscribe((e) => seen.push(e));
  return seen;
}

describe('RedisChangeFeed', () => {
  it('delivers another process’s events in publish order', async () => {
    const publisher = await feed('order:');
    const receiver = await feed('order:');
    const seen = record(receiver);
    const sent = Array.from({ length: 200 }, (_, i) => tunnelEvent(i));
    for (const e of sent) publisher.publish(e);
    await waitUntil('all 200 events to arrive', () => seen.length >= 200, 10_000);
    expect(seen).toEqual(sent);
  });

  it('delivers a local publish to local subscribers at once and exactly once', async () => {
    const f = await feed('local:');
    const other = await feed('local:');
    const seen = record(f);
    const seenElsewhere = record(other);
    const event: ControlEvent = { kind: 'session', userId: 'u1', sessionId: 's1', reason: 'stopped' };
    f.publish(event);
    expect(seen).toEqual([event]); // synchronous, as the in-process ChangeFeed
    await waitUntil('the other process to get it', () => seenElsewhere.length === 1, 10_000);
    // A marker sent after it: once it arrives, an echo of the first would have arrived too.
    other.publish(tunnelEvent(99));
    await waitUntil('the marker', () => seen.length === 2, 10_000);
    expect(seen).toEqual([event, tunnelEvent(99)]);
  });

  it('ignores malformed messages with a warning and keeps delivering', async () => {
    const lines: string[] = [];
    const logger = createLogger({ name: 'test', level: 'warn', destination: { write: (l: string) => void lines.push(l) } });
    const f = await feed('bad:', logger);
    const seen = record(f);
    const raw = new Redis(redis.url);
    try {
      await raw.publish('bad:events', 'not json');
      await raw.publish('bad:events', JSON.stringify({ origin: 'x', event: { kind: 'tunnel', tunnelId: 1 } }));
      await raw.publish('bad:events', JSON.stringify({ origin: 'x', event: tunnelEvent(1) }));
    } finally {
      raw.disconnect();
    }
    await waitUntil('the valid event', () => seen.length === 1, 10_000);
    expect(seen).toEqual([tunnelEvent(1)]);
    expect(lines.filter((l) => l.includes('malformed message ignored'))).toHaveLength(2);
    expect(lines.join('')).not.toContain('not json');
  });

  it('fires resync after Redis restarts and delivers again', async () => {
    const a = await feed('restart:');
    const b = await feed('restart:');
    const seen = record(b);
    let resyncs = 0;
    b.onResync(() => resyncs++);

    await redis.stop();
    await redis.restart();
    await waitUntil('resync after the restart', () => resyncs >= 1, 20_000);
    // a's publisher may still be reconnecting: its publish waits in the queue and goes out.
    a.publish(tunnelEvent(7));
    await waitUntil('delivery after the restart', () => seen.length === 1, 20_000);
    expect(seen).toEqual([tunnelEvent(7)]);
  });

  it('with Redis down, still delivers locally and throws nothing', async () => {
    const f = new RedisChangeFeed({ url: `redis://127.0.0.1:${await closedPort()}`, prefix: 'down:', logger: silentLogger() });
    open.push(f);
    const seen = record(f);
    let resyncs = 0;
    f.onResync(() => resyncs++);
    expect(() => f.publish(tunnelEvent(1))).not.toThrow();
    expect(seen).toEqual([tunnelEvent(1)]);
    expect(resyncs).toBe(0);
  });

  it('feeds under different prefixes do not hear each other', async () => {
    const a = await feed('p1:');
    const b = await feed('p2:');
    const seenB = record(b);
    const seenB2 = record(await feed('p2:'));
    a.publish(tunnelEvent(1));
    b.publish(tunnelEvent(2));
    await waitUntil('p2 event', () => seenB2.length === 1, 10_000);
    expect(seenB2).toEqual([tunnelEvent(2)]);
    expect(seenB).toEqual([tunnelEvent(2)]);
  });
});
