import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** The development PostgreSQL service (trust auth); ST_TEST_DATABASE_URL points elsewhere, as for the store's tests. */
const POSTGRES_URL = process.env.ST_TEST_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/test';

/** A fresh PostgreSQL database that several st-server processes share; dropped by `drop()`. */
export async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `st_e2e_agent_${randomBytes(6).toString('hex')}`;
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
