import { describe, expect, it } from 'vitest';
import { pickUrl, streamTarget } from './stream-plan';

describe('how many brokers the agent holds', () => {
  it('is ST_BROKER_CONNECTIONS when that many brokers are live, else as many as are', () => {
    expect(streamTarget({ connections: 2, liveBrokers: 3, urlCount: 1 })).toBe(2);
    expect(streamTarget({ connections: 2, liveBrokers: 1, urlCount: 1 })).toBe(1);
    // Nothing heard yet, or an older broker (0): one.
    expect(streamTarget({ connections: 2, liveBrokers: 0, urlCount: 1 })).toBe(1);
    // A list names its brokers even when each says it is alone (no shared live state).
    expect(streamTarget({ connections: 2, liveBrokers: 1, urlCount: 3 })).toBe(2);
    expect(streamTarget({ connections: 1, liveBrokers: 5, urlCount: 3 })).toBe(1);
  });

  it('dials a URL no stream uses yet, taking turns among equals', () => {
    const urls = ['a', 'b', 'c'];
    expect(pickUrl(urls, [], 0)).toBe(0);
    expect(pickUrl(urls, ['a'], 1)).toBe(1);
    expect(pickUrl(urls, ['a', 'b'], 2)).toBe(2);
    // All in use: the turn goes on, so a broker that is down does not hold the others up.
    expect(pickUrl(urls, ['a', 'b', 'c'], 1)).toBe(1);
    expect(pickUrl(urls, ['b'], 1)).toBe(2);
    expect(pickUrl(['lb'], ['lb'], 7)).toBe(0);
  });
});
