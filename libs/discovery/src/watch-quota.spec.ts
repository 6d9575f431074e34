import { describe, expect, it } from 'vitest';
import { WatchLimitError, WatchQuota } from './watch-quota';

describe('WatchQuota', () => {
  it('refuses the watch over the limit, naming it, and takes it again once one closes', () => {
    const quota = new WatchQuota(2);
    const a = quota.acquire('u-1');
    quota.acquire('u-1');
    expect(() => quota.acquire('u-1')).toThrow(WatchLimitError);
    expect(() => quota.acquire('u-1')).toThrow(/you have 2 WatchProviders streams open \(ST_MAX_WATCHES_PER_USER\)/);
    // Another user is not affected.
    quota.acquire('u-2');
    a();
    a();
    expect(quota.openOf('u-1')).toBe(1);
    quota.acquire('u-1');
    expect(quota.openOf('u-1')).toBe(2);
  });

  it('forgets users whose watches are all closed', () => {
    const quota = new WatchQuota(16);
    const releases = Array.from({ length: 1000 }, (_, i) => quota.acquire(`u-${i}`));
    expect(quota.users).toBe(1000);
    expect(quota.watches).toBe(1000);
    for (const r of releases) r();
    releases[0]();
    expect(quota.users).toBe(0);
    expect(quota.watches).toBe(0);
  });

  it('with 0 counts but never refuses', () => {
    const quota = new WatchQuota(0);
    for (let i = 0; i < 100; i++) quota.acquire('u-1');
    expect(quota.openOf('u-1')).toBe(100);
  });
});
