import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Client } from 'pg';
import { redactConnectionString } from '../postgres/connection';

/** The PostgreSQL service of the development environment (trust auth, database `test`). */
export const LOCAL_TEST_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/test';
const DOCKER_SOCKET = '/var/run/docker.sock';
const CONTAINER_IMAGE = 'postgres:16';
const REACHABLE_TIMEOUT_MS = 5_000;

export type TestDatabaseSource = 'ST_TEST_DATABASE_URL' | 'testcontainers' | 'local service';

/** A PostgreSQL server for tests. Tests work in schemas of their own ({@link randomSchemaName}). */
export interface TestDatabase {
  url: string;
  source: TestDatabaseSource;
  /** Stops the container, if one was started. */
  stop(): Promise<void>;
}

export interface TestDatabaseDeps {
  env?: NodeJS.ProcessEnv;
  socketExists?: () => boolean;
  startContainer?: () => Promise<TestDatabase>;
}

/** Whether a Docker engine is plausibly there; without one, testcontainers would only fail slowly. */
export function dockerEngineAvailable(
  env: NodeJS.ProcessEnv = process.env,
  socketExists: () => boolean = () => existsSync(DOCKER_SOCKET),
): boolean {
  return Boolean(env.DOCKER_HOST) || socketExists();
}

/**
 * The database for PostgreSQL tests, checked to answer: `ST_TEST_DATABASE_URL` when set (an
 * explicit choice wins), else a throwaway `postgres:16` container when a Docker engine is there,
 * else the local service. Throws a message saying how to fix it when the server does not answer:
 * a PostgreSQL suite that skips itself silently would hide a backend nobody tests.
 */
export async function startTestDatabase(deps: TestDatabaseDeps = {}): Promise<TestDatabase> {
  const env = deps.env ?? process.env;
  let database: TestDatabase;
  if (env.ST_TEST_DATABASE_URL) {
    database = { url: env.ST_TEST_DATABASE_URL, source: 'ST_TEST_DATABASE_URL', stop: async () => undefined };
  } else if (dockerEngineAvailable(env, deps.socketExists)) {
    database = await (deps.startContainer ?? startPostgresContainer)();
  } else {
    database = { url: LOCAL_TEST_DATABASE_URL, source: 'local service', stop: async () => undefined };
  }
  try {
    await assertReachable(database);
  } catch (err) {
    await database.stop();
    throw err;
  }
  return database;
}

/** Throws an error naming the server (without password), where it came from and how to fix it. */
export async function assertReachable(database: Pick<TestDatabase, 'url' | 'source'>): Promise<void> {
  const client = new Client({ connectionString: database.url, connectionTimeoutMillis: REACHABLE_TIMEOUT_MS });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${redactConnectionString(database.url)} (from ${database.source}): ` +
        `${(err as Error).message || String(err)}. The PostgreSQL store tests need a server: start the local ` +
        'service, point ST_TEST_DATABASE_URL at one, or make a Docker engine available.',
      { cause: err },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A fresh schema name, so tests never see each other's rows nor real data. */
export function randomSchemaName(): string {
  return `st_test_${randomBytes(6).toString('hex')}`;
}

/** Drops a test schema and everything in it. Only `st_test_…` names, as a guard against accidents. */
export async function dropTestSchema(url: string, schema: string): Promise<void> {
  if (!/^st_test_[a-z0-9_]+$/.test(schema)) throw new Error(`refusing to drop "${schema}": not a test schema`);
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/**
 * Starts PostgreSQL in a container. testcontainers is imported only here, on demand: loading it
 * probes for Docker, which has no business happening in runs that use another server.
 */
async function startPostgresContainer(): Promise<TestDatabase> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer(CONTAINER_IMAGE)
    .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust', POSTGRES_DB: 'test' })
    .withExposedPorts(5432)
    // The server logs this twice: once for the init-script run, once when really serving.
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  return {
    url: `postgresql://postgres@${container.getHost()}:${container.getMappedPort(5432)}/test`,
    source: 'testcontainers',
    stop: async () => {
      await container.stop();
    },
  };
}
