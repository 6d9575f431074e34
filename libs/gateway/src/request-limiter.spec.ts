import { describe, expect, it } from 'vitest';
import { TunnelError } from '@st/tunnel-protocol';
import { type Admission, InMemoryLimitCounters, type LimitCounters, type LimitKey, type RequestLimits } from './limit-counters';
import { type LimitTicket, RequestLimiter } from './request-limiter';

const LIMITS: RequestLimits = { tunnelConcurrency: 2, userConcurrency: 512, userRps: 100, userBurst: 400 };

function ticket(result: ReturnType<RequestLimiter['admit']>): LimitTicket {
  if (result instanceof Promise || result instanceof TunnelError) throw new Error(`expected a ticket, got ${String(result)}`);
  return result;
}

describe('RequestLimiter', () => {
  it('answers the in-memory counters at once, without a promise', () => {
    const limiter = new RequestLimiter(new InMemoryLimitCounters(), LIMITS);
    const result = limiter.admit('u-1', 't-1');
    expect(result).not.toBeInstanceOf(Promise);
    expect(result).not.toBeInstanceOf(TunnelError);
  });

  it('refuses with rate_limited, naming the limit, its setting and the fix, and a Retry-After', () => {
    const full = new RequestLimiter(new InMemoryLimitCounters(), LIMITS);
    ticket(full.admit('u-1', 't-1'));
    ticket(full.admit('u-1', 't-1'));
    const refused = full.admit('u-1', 't-1') as TunnelError;
    expect(refused.kind).toBe('rate_limited');
    expect(refused.message).toBe('tunnel t-1 has 2 requests open (ST_LIMIT_TUNNEL_CONCURRENCY): retry when some finish');
    expect(refused.retryAfterSeconds).toBe(1);

    const rate = new RequestLimiter(new InMemoryLimitCounters({ now: () => 0 }), { ...LIMITS, userRps: 0.1, userBurst: 1 });
    ticket(rate.admit('u-1', 't-1'));
    const slow = rate.admit('u-1', 't-1') as TunnelError;
    expect(slow.message).toMatch(/more than 0.1 requests per second \(bursts of up to 1; ST_LIMIT_USER_RPS, ST_LIMIT_USER_BURST\): retry after 10 s$/);
    expect(slow.retryAfterSeconds).toBe(10);
  });

  it('releases a ticket exactly once, however often release is called', () => {
    const counters = new InMemoryLimitCounters();
    const limiter = new RequestLimiter(counters, LIMITS);
    const a = ticket(limiter.admit('u-1', 't-1'));
    const b = ticket(limiter.admit('u-1', 't-1'));
    a.release();
    a.release();
    a.release();
    expect(counters.openOf('tunnel', 't-1')).toBe(1);
    b.release();
    expect(counters.openOf('tunnel', 't-1')).toBe(0);
  });

  it('works with shared counters that answer asynchronously', async () => {
    const released: LimitKey[] = [];
    const remote: LimitCounters = {
      admit: (key: LimitKey): Promise<Admission> =>
        Promise.resolve(key.userId === 'u-over' ? { admitted: false, limit: 'user_concurrency', retryAfterMs: 1000 } : { admitted: true }),
      release: (key) => released.push(key),
    };
    const limiter = new RequestLimiter(remote, LIMITS);
    const ok = await limiter.admit('u-1', 't-1');
    (ok as LimitTicket).release();
    (ok as LimitTicket).release();
    expect(released).toEqual([{ userId: 'u-1', tunnelId: 't-1' }]);
    const over = (await limiter.admit('u-over', 't-2')) as TunnelError;
    expect(over.message).toMatch(/512 requests open across your tunnels \(ST_LIMIT_USER_CONCURRENCY\)/);
  });

  it('with every limit 0 counts nothing', () => {
    const counters = new InMemoryLimitCounters();
    const limiter = new RequestLimiter(counters, { tunnelConcurrency: 0, userConcurrency: 0, userRps: 0, userBurst: 0 });
    for (let i = 0; i < 10_000; i++) ticket(limiter.admit('u-1', 't-1'));
    expect(counters.size).toEqual({ buckets: 0, users: 0, tunnels: 0 });
  });
});
