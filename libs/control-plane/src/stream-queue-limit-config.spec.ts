import { describe, expect, it } from 'vitest';
import { loadServerConfig } from './server-config';

const load = (env: Record<string, string>) => loadServerConfig({ env, argv: [] });

describe('ST_STREAM_QUEUE_LIMIT', () => {
  it('defaults to 8 MiB and takes sizes such as 16m', () => {
    expect(load({}).streamQueueLimitBytes).toBe(8 * 1024 * 1024);
    expect(load({ ST_STREAM_QUEUE_LIMIT: '16m' }).streamQueueLimitBytes).toBe(16 * 1024 * 1024);
  });

  it('refuses a value that is not a size, or one so small that busy agents would be cut, naming the setting', () => {
    expect(() => load({ ST_STREAM_QUEUE_LIMIT: 'lots' })).toThrow(/ST_STREAM_QUEUE_LIMIT: expected a size/);
    expect(() => load({ ST_STREAM_QUEUE_LIMIT: '64k' })).toThrow(/ST_STREAM_QUEUE_LIMIT: expected at least 1m/);
  });
});
