import { afterEach, describe, expect, it, vi } from 'vitest';
import { LightKeepalive } from './light-keepalive';

describe('LightKeepalive', () => {
  afterEach(() => vi.useRealTimers());

  it('pings after the keepalive time, and drops the connection when the ACK does not come within the timeout', () => {
    vi.useFakeTimers();
    const pings: Buffer[] = [];
    let timedOut = 0;
    const k = new LightKeepalive(20_000, 10_000, { ping: (o) => pings.push(o), timedOut: () => timedOut++ });
    k.start();
    vi.advanceTimersByTime(19_999);
    expect(pings).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(pings).toHaveLength(1);
    vi.advanceTimersByTime(10_000);
    expect(timedOut).toBe(1);
  });

  it('pings again a keepalive time after the ACK; an ACK with other data does not count', () => {
    vi.useFakeTimers();
    const pings: Buffer[] = [];
    let timedOut = 0;
    const k = new LightKeepalive(1_000, 500, { ping: (o) => pings.push(o), timedOut: () => timedOut++ });
    k.start();
    vi.advanceTimersByTime(1_000);
    k.acked(Buffer.alloc(8, 9));
    k.acked(pings[0]);
    vi.advanceTimersByTime(1_000);
    expect(pings).toHaveLength(2);
    expect(pings[1].equals(pings[0])).toBe(false);
    k.stop();
    vi.advanceTimersByTime(10_000);
    expect(timedOut).toBe(0);
  });
});
