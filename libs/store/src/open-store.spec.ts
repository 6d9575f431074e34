import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore, PostgresStore, SqliteStore, SQLITE_FILE_NAME, type Store } from './index';
import { dropTestSchema, randomSchemaName, startTestDatabase, type TestDatabase } from './testing/test-database';

describe('openStore', () => {
  let dataDir: string;
  let database: TestDatabase;
  const opened: Store[] = [];
  const schemas: string[] = [];

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'st-open-store-'));
    database = await startTestDatabase();
  }, 180_000);

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });

  afterAll(async () => {
    for (const schema of schemas) await dropTestSchema(database.url, schema);
    await database?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('opens SQLite in the data directory when no database URL is set (or it is empty)', async () => {
    for (const databaseUrl of [undefined, '']) {
      const store = await openStore({ dataDir, databaseUrl });
      opened.push(store);
      expect(store).toBeInstanceOf(SqliteStore);
    }
    expect(readdirSync(dataDir)).toContain(SQLITE_FILE_NAME);
  });

  it('opens PostgreSQL for postgres:// and postgresql:// URLs', async () => {
    const path = new URL(database.url);
    for (const scheme of ['postgresql:', 'postgres:']) {
      const schema = randomSchemaName();
      schemas.push(schema);
      const databaseUrl = scheme + database.url.slice(path.protocol.length);
      const store = await openStore({ dataDir, databaseUrl, databaseSchema: schema });
      opened.push(store);
      expect(store).toBeInstanceOf(PostgresStore);
      const user = await store.createUser('alice');
      expect(await store.getUser(user.id)).toEqual(user);
    }
  });

  it('refuses any other URL instead of falling back to SQLite, without echoing it', async () => {
    const databaseUrl = 'mysql://root:hunter2@db/app';
    const err = (await openStore({ dataDir, databaseUrl }).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain('unsupported database URL scheme "mysql:"');
    expect(err.message).not.toContain('hunter2');
  });
});
