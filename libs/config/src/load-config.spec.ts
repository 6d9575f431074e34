import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, loadConfig } from './load-config';
import { byteSize, port } from './schema-helpers';

const schema = z.object({ httpPort: port(8080), maxBody: byteSize(1024), name: z.string().default('x') });
const sources = {
  httpPort: { env: 'T_PORT', flag: 'port', help: 'port' },
  maxBody: { env: 'T_MAX', help: 'max' },
  name: { env: 'T_NAME', flag: 'name', help: 'name' },
};

describe('loadConfig', () => {
  it('applies flags over environment over file over defaults', () => {
    expect(loadConfig(schema, sources, { env: {}, argv: [] })).toEqual({ httpPort: 8080, maxBody: 1024, name: 'x' });
    expect(loadConfig(schema, sources, { env: { T_PORT: '9000', T_MAX: '20m' }, argv: [], file: { name: 'f' } })).toEqual({
      httpPort: 9000,
      maxBody: 20 * 1024 * 1024,
      name: 'f',
    });
    expect(loadConfig(schema, sources, { env: { T_PORT: '9000' }, argv: ['--port', '9100'] }).httpPort).toBe(9100);
  });

  it('names the setting, its variable and the bad value', () => {
    expect(() => loadConfig(schema, sources, { env: { T_PORT: 'abc' }, argv: [] })).toThrow(/T_PORT \/ --port: .*got "abc"/);
    expect(() => loadConfig(schema, sources, { env: { T_PORT: '70000' }, argv: [] })).toThrow(ConfigError);
    expect(() => loadConfig(schema, sources, { env: { T_MAX: 'lots' }, argv: [] })).toThrow(/T_MAX: expected a size/);
  });

  it('rejects unknown flags instead of ignoring a typo', () => {
    expect(() => loadConfig(schema, sources, { env: {}, argv: ['--prot', '1'] })).toThrow(/--help/);
  });
});

describe('errors never echo secrets', () => {
  const schema = z.object({ token: z.string().min(16), url: z.string().refine((v) => v.startsWith('postgres://x')) });
  const sources = { token: { env: 'T', help: '', secret: true }, url: { env: 'U', help: '' } };

  it('describes a secret by its length and masks a URL password', () => {
    let message = '';
    try {
      loadConfig(schema, sources, { env: { T: 'hunter2', U: 'postgres://app:s3cr3t@db/app' }, argv: [] });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('T: ');
    expect(message).toContain('7 characters, not shown');
    expect(message).toContain('postgres://app:***@db/app');
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('s3cr3t');
  });
});
