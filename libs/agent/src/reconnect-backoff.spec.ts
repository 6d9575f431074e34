import { describe, expect, it } from 'vitest';
import {
  BACKOFF_INITIAL_MS,
  QUICK_MIN_SERVED_MS,
  QUICK_RETRY_MAX_MS,
  QUICK_RETRY_MIN_MS,
  QUICK_WINDOW_MS,
  ReconnectBackoff,
} from './reconnect-backoff';

describe('ReconnectBackoff', () => {
  it('grows exponentially with jitter between half and all of the ceiling, capped', () => {
    const low = new ReconnectBackoff({ initialMs: 100, maxMs: 1000, random: () => 0 });
    expect([1, 2, 3, 4, 5, 6].map(() => low.next())).toEqual([50, 100, 200, 400, 500, 500]);
    const high = new ReconnectBackoff({ initialMs: 100, maxMs: 1000, random: () => 0.999999 });
    expect([1, 2, 3, 4, 5].map(() => high.next())).toEqual([100, 200, 400, 800, 1000]);
  });

  it('starts over after a reset', () => {
    const b = new ReconnectBackoff({ initialMs: 100, maxMs: 1000, random: () => 0 });
    b.next();
    b.next();
    b.reset();
    expect(b.next()).toBe(50);
  });
});

describe('ReconnectBackoff after a lost stream', () => {
  const clock = () => {
    let t = 1_000_000;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  it('retries within a second while no broker answers, for the quick window, then backs off again', () => {
    const c = clock();
    const b = new ReconnectBackoff({ random: () => 0.999999, now: c.now });
    for (let i = 0; i < 8; i++) b.next(true); // grown while serving (never reset): up to 30 s
    b.connectionLost(QUICK_MIN_SERVED_MS);
    const quick: number[] = [];
    while (c.now() < 1_000_000 + QUICK_WINDOW_MS - QUICK_RETRY_MAX_MS) {
      const delay = b.next(true);
      quick.push(delay);
      c.advance(delay);
    }
    // Every attempt inside the window came within QUICK_RETRY_MAX_MS of the last one: ~27, not 3.
    expect(Math.max(...quick)).toBe(QUICK_RETRY_MAX_MS);
    expect(quick.length).toBeGreaterThan(QUICK_WINDOW_MS / QUICK_RETRY_MAX_MS - 2);
    c.advance(QUICK_RETRY_MAX_MS);
    // Past the window the exponential backoff starts from its initial delay.
    expect(b.next(true)).toBe(BACKOFF_INITIAL_MS);
    expect(b.next(true)).toBe(2 * BACKOFF_INITIAL_MS);
  });

  it('jitters the quick retries between their bounds', () => {
    const low = new ReconnectBackoff({ random: () => 0 });
    low.connectionLost(60_000);
    expect(low.next(true)).toBe(QUICK_RETRY_MIN_MS);
    const high = new ReconnectBackoff({ random: () => 0.999999 });
    high.connectionLost(60_000);
    expect(high.next(true)).toBe(QUICK_RETRY_MAX_MS);
  });

  it('backs off at once when the broker answers but fails (a struggling broker gets no storm)', () => {
    const b = new ReconnectBackoff({ random: () => 0 });
    b.connectionLost(60_000);
    expect(b.next(true)).toBe(QUICK_RETRY_MIN_MS);
    expect(b.next(false)).toBe(BACKOFF_INITIAL_MS / 2);
    // The window is closed for good: a later UNAVAILABLE keeps backing off.
    expect(b.next(true)).toBe(BACKOFF_INITIAL_MS);
  });

  it('opens no quick window for a stream lost soon after it opened (a flapping broker)', () => {
    const b = new ReconnectBackoff({ random: () => 0 });
    b.next(true);
    b.connectionLost(QUICK_MIN_SERVED_MS - 1);
    expect(b.next(true)).toBe(BACKOFF_INITIAL_MS);
  });
});
