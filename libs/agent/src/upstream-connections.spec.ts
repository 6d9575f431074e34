import { describe, expect, it } from 'vitest';
import { MIN_UPSTREAM_CONNECTIONS, RESERVED_FILES, readOpenFileLimit, upstreamConnectionCap } from './upstream-connections';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                20000                files
Max locked memory         8388608              8388608              bytes
`;

describe('upstreamConnectionCap', () => {
  it('gives 10,000 concurrent answers a connection each when the open-file limit allows', () => {
    expect(upstreamConnectionCap(20_000)).toBe(20_000 - RESERVED_FILES);
    expect(upstreamConnectionCap(20_000)).toBeGreaterThan(10_000);
  });

  it('keeps the former 512 connections under a low or unknown limit', () => {
    expect(upstreamConnectionCap(1024)).toBe(MIN_UPSTREAM_CONNECTIONS);
    expect(upstreamConnectionCap(undefined)).toBe(MIN_UPSTREAM_CONNECTIONS);
  });
});

describe('readOpenFileLimit', () => {
  it("reads the soft limit from /proc's table", () => {
    expect(readOpenFileLimit(() => LIMITS)).toBe(20_000);
  });

  it('is undefined where there is no such file or no number (unlimited)', () => {
    expect(
      readOpenFileLimit(() => {
        throw new Error('ENOENT');
      }),
    ).toBeUndefined();
    expect(readOpenFileLimit(() => LIMITS.replace('20000                20000', 'unlimited            unlimited'))).toBeUndefined();
  });

  it('reads this process on Linux', () => {
    if (process.platform !== 'linux') return;
    expect(readOpenFileLimit()).toBeGreaterThan(0);
  });
});
