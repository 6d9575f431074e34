import { describe, expect, it } from 'vitest';
import { ReconnectBackoff } from './reconnect-backoff';

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
