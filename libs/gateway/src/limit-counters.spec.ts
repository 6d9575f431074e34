import { describe, expect, it } from 'vitest';
import { InMemoryLimitCounters, type RequestLimits } from './limit-counters';

const NONE: RequestLimits = { tunnelConcurrency: 0, userConcurrency: 0, userRps: 0, userBurst: 0 };
const alice = { userId: 'u-alice', tunnelId: 't-a1' };

function clocked() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('InMemoryLimitCounters', () => {
  it('allows a burst of ST_LIMIT_USER_BURST, then the rate, and says how long to wait', () => {
    const clock = clocked();
    const counters = new InMemoryLimitCounters({ now: clock.now });
    const limits = { ...NONE, userRps: 10, userBurst: 40 };
    const admitted = () => {
      const a = counters.admit(alice, limits);
      if (a.admitted) counters.release(alice);
      return a;
    };
    for (let i = 0; i < 40; i++) expect(admitted().admitted).toBe(true);
    const refused = admitted();
    expect(refused).toEqual({ admitted: false, limit: 'user_rate', retryAfterMs: 100 });
    clock.advance(50);
    expect(admitted()).toMatchObject({ admitted: false, retryAfterMs: 50 });
    clock.advance(50);
    expect(admitted().admitted).toBe(true);
    // One second refills ten tokens, not more.
    clock.advance(1000);
    for (let i = 0; i < 10; i++) expect(admitted().admitted).toBe(true);
    expect(admitted().admitted).toBe(false);
  });

  it('keeps users apart: one user over the rate leaves another untouched', () => {
    const counters = new InMemoryLimitCounters({ now: clocked().now });
    const limits = { ...NONE, userRps: 1, userBurst: 2 };
    const bob = { userId: 'u-bob', tunnelId: 't-b1' };
    counters.admit(alice, limits);
    counters.admit(alice, limits);
    expect(counters.admit(alice, limits).admitted).toBe(false);
    expect(counters.admit(bob, limits).admitted).toBe(true);
  });

  it('counts open requests per tunnel and per user until they are released', () => {
    const counters = new InMemoryLimitCounters({ now: clocked().now });
    const limits = { ...NONE, tunnelConcurrency: 2, userConcurrency: 3 };
    const second = { userId: 'u-alice', tunnelId: 't-a2' };
    expect(counters.admit(alice, limits).admitted).toBe(true);
    expect(counters.admit(alice, limits).admitted).toBe(true);
    expect(counters.admit(alice, limits)).toEqual({ admitted: false, limit: 'tunnel_concurrency', retryAfterMs: 1000 });
    expect(counters.admit(second, limits).admitted).toBe(true);
    expect(counters.admit(second, limits)).toMatchObject({ admitted: false, limit: 'user_concurrency' });
    counters.release(alice);
    expect(counters.openOf('tunnel', 't-a1')).toBe(1);
    expect(counters.admit(alice, limits).admitted).toBe(true);
    expect(counters.openOf('user', 'u-alice')).toBe(3);
  });

  it('takes no rate token from a request refused for concurrency', () => {
    const counters = new InMemoryLimitCounters({ now: clocked().now });
    const limits = { ...NONE, tunnelConcurrency: 1, userRps: 1, userBurst: 2 };
    expect(counters.admit(alice, limits).admitted).toBe(true);
    for (let i = 0; i < 5; i++) expect(counters.admit(alice, limits)).toMatchObject({ limit: 'tunnel_concurrency' });
    counters.release(alice);
    expect(counters.admit(alice, limits).admitted).toBe(true);
  });

  it('forgets idle users: memory follows the users active now, not all users ever seen', () => {
    const clock = clocked();
    const counters = new InMemoryLimitCounters({ now: clock.now, sweepIntervalMs: 10_000 });
    const limits = { tunnelConcurrency: 10, userConcurrency: 10, userRps: 100, userBurst: 400 };
    for (let i = 0; i < 100_000; i++) {
      const key = { userId: `u-${i}`, tunnelId: `t-${i}` };
      counters.admit(key, limits);
      counters.release(key);
    }
    expect(counters.size).toEqual({ buckets: 100_000, users: 0, tunnels: 0 });
    // A bucket one token short is full again after 10 ms; the sweep runs from the next admit.
    clock.advance(10_000);
    counters.admit(alice, limits);
    expect(counters.size.buckets).toBe(1);
  });
});
