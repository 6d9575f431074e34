import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** The development PostgreSQL service (trust auth); ST_TEST_DATABASE_URL points elsewhere, as for the store's tests. */
const POSTGRES_URL = process.env.ST_TEST_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/test';

export interface FreshDatabase {
  /** `postgresql://…/<name>` for ST_DATABASE_URL. */
  url: string;
  /** Drops it, cutting whoever is still connected. */
  drop(): Promise<void>;
}

/** A PostgreSQL database of the test's own, so runs and specs never see each other's rows. */
export async function freshDatabase(prefix = 'st_e2e'): Promise<FreshDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5_000 });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable at ${POSTGRES_URL.replace(/\/\/[^@]*@/, '//…@')}: ${(err as Error).message}. Start the local service or set ST_TEST_DATABASE_URL.`);
  }
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new Client({ connectionString: POSTGRES_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
