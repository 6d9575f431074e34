import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** The development PostgreSQL service (trust auth); ST_TEST_DATABASE_URL points elsewhere, as for the store's tests. */
export const POSTGRES_URL = process.env.ST_TEST_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/test';

/** A database of one test run, shared by every process of it. */
export interface TestPostgresDatabase {
  name: string;
  /** `postgresql://…/<name>`, for ST_DATABASE_URL. */
  url: string;
  /** Drops it, closing the connections still open to it (processes killed -9 leave some). */
  drop(): Promise<void>;
}

function redacted(url: string): string {
  return url.replace(/\/\/[^@]*@/, '//…@');
}

/** Creates `st_e2e_<random>` on the development PostgreSQL server. */
export async function createTestPostgresDatabase(prefix = 'st_e2e_'): Promise<TestPostgresDatabase> {
  const name = `${prefix}${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5_000 });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable at ${redacted(POSTGRES_URL)}: ${(err as Error).message}. Start the local service or set ST_TEST_DATABASE_URL.`);
  }
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const c = new Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5_000 });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
