import { describe, expect, it } from 'vitest';
import { ConfigError } from '@st/config';
import { loadServerConfig } from './server-config';

const load = (env: Record<string, string>) => loadServerConfig({ env: { ST_DATA_DIR: '/tmp/unused', ...env }, argv: [] });

describe('ST_MAX_JSON_DEPTH', () => {
  it('defaults to 128 and takes a whole number of levels', () => {
    expect(load({}).maxJsonDepth).toBe(128);
    expect(load({ ST_MAX_JSON_DEPTH: '32' }).maxJsonDepth).toBe(32);
  });

  it('refuses values that are not a positive whole number, naming the setting', () => {
    for (const value of ['0', '-1', '2.5', '1000000']) {
      expect(() => load({ ST_MAX_JSON_DEPTH: value }), value).toThrow(ConfigError);
      expect(() => load({ ST_MAX_JSON_DEPTH: value }), value).toThrow(/ST_MAX_JSON_DEPTH/);
    }
  });
});
