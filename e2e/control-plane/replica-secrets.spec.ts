import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, TestRedisServer, cleanupAll, makeTempDir, spawnProcess, type ProcessEnv } from '@st/testing';

// Issue 8: replicas share their secrets through the environment or the database, never through a
// data directory of their own; one that lacks a secret refuses to start (exit 2) and says how to
// make it.

const POSTGRES_URL = process.env.ST_TEST_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/test';
const bin = (app: string, file: string) => join(REPO_ROOT, 'apps', app, 'bin', file);
const BROKER = bin('broker', 'st-broker.js');
const GATEWAY = bin('gateway', 'st-gateway.js');
const SERVER = bin('server', 'st-server.js');

let databaseName: string;
let databaseUrl: string;
let redis: TestRedisServer;

beforeAll(async () => {
  databaseName = `st_e2e_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5_000 });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${databaseName}`);
  await admin.end();
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${databaseName}`;
  databaseUrl = url.toString();
  redis = await TestRedisServer.start();
});

afterAll(async () => {
  await cleanupAll();
  await redis?.stop();
  const c = new Client({ connectionString: POSTGRES_URL });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
  await c.end();
});

/** A replica's settings, every secret given; `dataDir` is where it must make nothing. */
function replicaEnv(overrides: ProcessEnv = {}): { env: ProcessEnv; dataDir: string } {
  const dataDir = join(makeTempDir('st-replica-'), 'data');
  return {
    dataDir,
    env: {
      ST_DATA_DIR: dataDir,
      ST_HTTP_PORT: '0',
      ST_GRPC_PORT: '0',
      ST_DATABASE_URL: databaseUrl,
      ST_REDIS_URL: redis.url,
      ST_SERVICE_TOKEN: randomBytes(32).toString('hex'),
      ST_SECRET_KEY: randomBytes(32).toString('hex'),
      ST_SHUTDOWN_GRACE_MS: '200',
      ...overrides,
    },
  };
}

async function run(script: string, env: ProcessEnv, args: string[] = []): Promise<{ code: number | null; output: string }> {
  const proc = spawnProcess({ name: script, script, args, env });
  const exit = await proc.exited;
  return { code: exit.code, output: proc.lines.map((l) => l.text).join('\n') };
}

describe('secrets of replicas', () => {
  it.each([
    { app: 'st-broker', script: BROKER, args: [], missing: 'ST_SERVICE_TOKEN' },
    { app: 'st-gateway', script: GATEWAY, args: [], missing: 'ST_SECRET_KEY' },
    { app: 'st-server --role broker,gateway', script: SERVER, args: ['--role', 'broker,gateway'], missing: 'ST_SERVICE_TOKEN' },
  ])('$app without $missing refuses to start with exit 2, naming it and how to make one', async ({ script, args, missing }) => {
    const { env, dataDir } = replicaEnv({ [missing]: undefined });
    const { code, output } = await run(script, env, args);
    expect(code).toBe(2);
    expect(output).toContain(`${missing}: required by a split process on a shared database`);
    expect(output).toContain('openssl rand -hex 32');
    expect(existsSync(dataDir)).toBe(false);
  });

  it('a discovery replica on a database with no admin token and no ST_ADMIN_TOKEN refuses with exit 2', async () => {
    const { env, dataDir } = replicaEnv();
    const { code, output } = await run(SERVER, env, ['--role', 'discovery']);
    expect(code).toBe(2);
    expect(output).toContain('ST_ADMIN_TOKEN: required by the management API');
    expect(output).toContain('admin-token --reset');
    expect(existsSync(dataDir)).toBe(false);
  });

  it('a broker replica with its secrets starts without an admin token and writes nothing to its data directory', async () => {
    const { env, dataDir } = replicaEnv();
    const broker = spawnProcess({ name: 'st-broker', script: BROKER, env });
    await broker.waitForLine(/st-broker ready/, { timeoutMs: 30_000 });
    expect(existsSync(dataDir)).toBe(false);
    // No admin token was minted (and printed) by a replica: the database still has none.
    expect(broker.lines.map((l) => l.text).join('\n')).not.toContain('admin token');
    await broker.stop('SIGTERM', 5_000);
  });

  it('a discovery replica takes the admin token already in the database', async () => {
    const env = { ST_DATABASE_URL: databaseUrl, ST_DATA_DIR: makeTempDir('st-reset-') };
    const reset = await run(SERVER, env, ['admin-token', '--reset']);
    expect(reset.code).toBe(0);
    const { env: discoveryEnv, dataDir } = replicaEnv();
    const discovery = spawnProcess({ name: 'st-server --role discovery', script: SERVER, args: ['--role', 'discovery'], env: discoveryEnv });
    await discovery.waitForLine(/st-server ready/, { timeoutMs: 30_000 });
    expect(existsSync(dataDir)).toBe(false);
    await discovery.stop('SIGTERM', 5_000);
  });
});
