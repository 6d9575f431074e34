import { describe, expect, it } from 'vitest';
import { loadServerConfig } from './server-config';

const load = (env: Record<string, string>) => loadServerConfig({ env, argv: [] });

describe('ST_USAGE', () => {
  it('is on by default and takes on/off (and the other yes/no words)', () => {
    expect(load({}).usage).toBe(true);
    expect(load({ ST_USAGE: 'off' }).usage).toBe(false);
    expect(load({ ST_USAGE: 'on' }).usage).toBe(true);
    expect(load({ ST_USAGE: 'false' }).usage).toBe(false);
  });

  it('refuses another word, naming the setting', () => {
    expect(() => load({ ST_USAGE: 'sometimes' })).toThrow(/ST_USAGE: expected true or false/);
  });
});
