import { describe, expect, it } from 'vitest';
import { checkSchemaName, migrationLockKey, redactConnectionString, withSearchPath } from './connection';

describe('PostgreSQL connection settings', () => {
  it('pins search_path through the startup options', () => {
    expect(withSearchPath('postgresql://u@h/db', 'st')).toEqual({
      connectionString: 'postgresql://u@h/db',
      options: '-c search_path=st',
    });
  });

  it('keeps options given in the URL, which node-postgres would otherwise let override ours', () => {
    const { connectionString, options } = withSearchPath(
      'postgresql://u@h/db?sslmode=disable&options=-c%20statement_timeout%3D5000',
      'st',
    );
    expect(connectionString).toBe('postgresql://u@h/db?sslmode=disable');
    expect(options).toBe('-c statement_timeout=5000 -c search_path=st');
  });

  it('accepts only plain lowercase identifiers as schema names', () => {
    for (const good of ['public', 'st_test_0a', '_x']) expect(checkSchemaName(good)).toBe(good);
    for (const bad of ['Public', 'a b', 'a"b', '9a', '', 'a'.repeat(64), 'x,public']) {
      expect(() => checkSchemaName(bad), bad).toThrow(/invalid PostgreSQL schema name/);
    }
  });

  it('hides the password in messages', () => {
    expect(redactConnectionString('postgres://me:s3cret@db:5432/app')).toBe('postgres://me:***@db:5432/app');
    expect(redactConnectionString('postgresql://me@db/app')).toBe('postgresql://me@db/app');
    expect(redactConnectionString('not a url')).not.toContain('not a url');
  });

  it('derives a stable 64-bit lock key per schema', () => {
    const key = migrationLockKey('public');
    expect(key).toBe(migrationLockKey('public'));
    expect(key).not.toBe(migrationLockKey('other'));
    expect(BigInt(key) >= -(2n ** 63n) && BigInt(key) < 2n ** 63n).toBe(true);
  });
});
