import { Client, Pool } from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { capturingLogger } from '@st/testing';
import { digestSecret, PostgresStore, StoreConflictError, type PostgresStoreOptions } from './index';
import { applyPgMigrations } from './postgres/apply-migrations';
import { PG_MIGRATIONS } from './postgres/migrations';
import { MIGRATIONS } from './sqlite/migrations';
import { describeStoreContract } from './store-contract';
import { dropTestSchema, randomSchemaName, startTestDatabase, type TestDatabase } from './testing/test-database';

// Fails every test below with a message saying how to get a server when none answers.
let database: TestDatabase;
beforeAll(async () => {
  database = await startTestDatabase();
}, 180_000);
afterAll(async () => {
  await database?.stop();
});

describeStoreContract('PostgreSQL', async () => {
  const schema = randomSchemaName();
  // Two connections: enough to catch a statement that only works on the connection that migrated.
  const store = await PostgresStore.open({ connectionString: database.url, schema, poolSize: 2 });
  return {
    store,
    async cleanup() {
      await store.close();
      await dropTestSchema(database.url, schema);
    },
  };
});

describe('PostgresStore', () => {
  let schema: string;
  const opened: PostgresStore[] = [];
  const open = async (options: Partial<PostgresStoreOptions> = {}) => {
    const store = await PostgresStore.open({ connectionString: database.url, schema, ...options });
    opened.push(store);
    return store;
  };
  /** Raw SQL on the test schema, as an operator (or an attacker with a dump) would see it. */
  const sql = async <R extends Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> => {
    const client = new Client({ connectionString: database.url, options: `-c search_path=${schema}` });
    await client.connect();
    try {
      return (await client.query<R>(text, params)).rows;
    } finally {
      await client.end();
    }
  };

  beforeEach(() => {
    schema = randomSchemaName();
  });

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    await dropTestSchema(database.url, schema);
  });

  it('lets two stores (two processes) on one schema see each other\'s writes', async () => {
    const a = await open();
    const b = await open();
    const alice = await a.createUser('alice');
    const { apiKey } = await a.createApiKey(alice.id);
    const session = await a.createSession(alice.id, 'train');
    const { tunnel, agentToken } = await a.createTunnel({ userId: alice.id, name: 'gpu', sessionId: session.id });

    expect(await b.authenticateApiKey(apiKey)).toEqual(alice);
    expect(await b.authenticateAgentToken(agentToken)).toEqual(tunnel);
    expect(await b.listSessions(alice.id)).toEqual([session]);

    const rotated = await b.rotateAgentToken(tunnel.id);
    expect(await a.authenticateAgentToken(agentToken)).toBeNull();
    expect(await a.authenticateAgentToken(rotated)).toEqual(tunnel);

    await expect(b.createUser('alice')).rejects.toBeInstanceOf(StoreConflictError);
    await expect(b.createSession(alice.id, 'train')).rejects.toBeInstanceOf(StoreConflictError);
    await b.setSessionState(alice.id, session.id, 'stopped');
    await b.setTunnelState(alice.id, tunnel.id, 'stopped');
    expect((await a.getSession(session.id))?.state).toBe('stopped');
    expect((await a.getTunnel(tunnel.id))?.state).toBe('stopped');
  });

  it('keeps all state across closing and reopening', async () => {
    const first = await open();
    const alice = await first.createUser('alice');
    const kept = await first.createApiKey(alice.id);
    const revoked = await first.createApiKey(alice.id);
    await first.revokeApiKey(alice.id, revoked.info.id);
    const session = await first.createSession(alice.id, 'train');
    const stoppedSession = await first.setSessionState(alice.id, session.id, 'stopped');
    const { tunnel, agentToken } = await first.createTunnel({
      userId: alice.id,
      name: 'gpu',
      sessionId: session.id,
      remotePort: 9000,
      upstreamKeyCiphertext: 'sealed',
    });
    const stopped = await first.setTunnelState(alice.id, tunnel.id, 'stopped');
    const deleted = await first.createTunnel({ userId: alice.id, name: 'old' });
    await first.deleteTunnel(alice.id, deleted.tunnel.id);
    await first.close();

    const second = await open();
    expect(await second.getUserByName('alice')).toEqual(alice);
    expect(await second.authenticateApiKey(kept.apiKey)).toEqual(alice);
    expect(await second.authenticateApiKey(revoked.apiKey)).toBeNull();
    expect(await second.listApiKeys(alice.id)).toEqual([kept.info]);
    expect(await second.listSessions(alice.id)).toEqual([stoppedSession]);
    expect(await second.listTunnels(alice.id)).toEqual([stopped]);
    expect(await second.authenticateAgentToken(agentToken)).toEqual(stopped);
    expect(await second.authenticateAgentToken(deleted.agentToken)).toBeNull();
    expect(await second.getUpstreamKeyCiphertext(tunnel.id)).toBe('sealed');
    await expect(second.createUser('alice')).rejects.toBeInstanceOf(StoreConflictError);
  });

  it('migrates once when several processes open a fresh schema at the same time', async () => {
    const { logger, lines } = capturingLogger();
    const stores = await Promise.all([1, 2, 3, 4].map(() => open({ logger })));
    await open({ logger });

    const rows = await sql<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((m) => m.version));
    expect(lines.filter((l) => l.msg === 'applied store migration')).toHaveLength(PG_MIGRATIONS.length);
    // Every one of them works on the same tables.
    const user = await stores[0].createUser('alice');
    for (const store of stores) expect(await store.getUser(user.id)).toEqual(user);
  });

  it('refuses a schema written by a newer release', async () => {
    await (await open()).close();
    await sql('INSERT INTO schema_migrations (version, applied_at) VALUES (999, $1)', [new Date().toISOString()]);
    await expect(open()).rejects.toThrow(/schema version 999/);
  });

  it('upgrades a version-1 schema, keeping its tunnels as belonging to no session', async () => {
    const pool = new Pool({ connectionString: database.url, options: `-c search_path=${schema}` });
    const now = () => new Date().toISOString();
    await applyPgMigrations(pool, schema, PG_MIGRATIONS.slice(0, 1), now).finally(() => pool.end());
    const token = 'st_agent_' + 'A'.repeat(43);
    await sql(`INSERT INTO users (id, name, created_at) VALUES ('u-legacylegacy', 'old', $1)`, [now()]);
    await sql(
      `INSERT INTO tunnels (id, user_id, name, remote_host, remote_port, openai, state, token_digest, created_at)
       VALUES ('t-legacylegacy', 'u-legacylegacy', 'gpu', 'localhost', 8000, 1, 'started', $1, $2)`,
      [digestSecret(token), now()],
    );

    const store = await open();
    const tunnel = await store.authenticateAgentToken(token);
    expect(tunnel).toMatchObject({ id: 't-legacylegacy', sessionId: null, hasUpstreamKey: false });
    expect(await store.getUpstreamKeyCiphertext('t-legacylegacy')).toBeNull();
    expect(await store.listSessions('u-legacylegacy')).toEqual([]);
  });

  it('stores digests of secrets, never the secrets, and the upstream key only as given', async () => {
    const store = await open();
    const user = await store.createUser('alice');
    const { apiKey } = await store.createApiKey(user.id);
    const session = await store.createSession(user.id, 'train');
    const created = await store.createTunnel({
      userId: user.id,
      name: 'gpu',
      sessionId: session.id,
      upstreamKeyCiphertext: 'sealed-by-the-caller',
    });
    const agentToken = await store.rotateAgentToken(created.tunnel.id);

    const dump = JSON.stringify(
      await sql(`SELECT 'api_keys' AS t, row_to_json(k)::text AS row FROM api_keys k
                 UNION ALL SELECT 'tunnels', row_to_json(t)::text FROM tunnels t`),
    );
    expect(dump).toContain(digestSecret(apiKey));
    expect(dump).toContain(digestSecret(agentToken));
    expect(dump).toContain('sealed-by-the-caller');
    // The hint shows the first 12 characters; the rest must be nowhere.
    for (const secret of [apiKey, agentToken, created.agentToken]) expect(dump).not.toContain(secret.slice(12));
  });

  it('cascades deletions: a session takes its tunnels, a user everything', async () => {
    const store = await open();
    const alice = await store.createUser('alice');
    const { apiKey } = await store.createApiKey(alice.id);
    const train = await store.createSession(alice.id, 'train');
    const evaluate = await store.createSession(alice.id, 'eval');
    const inTrain = await store.createTunnel({ userId: alice.id, name: 'a', sessionId: train.id });
    const inEval = await store.createTunnel({ userId: alice.id, name: 'b', sessionId: evaluate.id });

    await sql('DELETE FROM sessions WHERE id = $1', [train.id]);
    expect(await store.authenticateAgentToken(inTrain.agentToken)).toBeNull();
    expect(await store.listTunnels(alice.id)).toEqual([inEval.tunnel]);

    await sql('DELETE FROM users WHERE id = $1', [alice.id]);
    expect(await store.authenticateApiKey(apiKey)).toBeNull();
    expect(await store.authenticateAgentToken(inEval.agentToken)).toBeNull();
    expect(await store.getSession(evaluate.id)).toBeNull();
  });

  it('keeps schemas apart', async () => {
    const other = randomSchemaName();
    try {
      const here = await open();
      const there = await open({ schema: other });
      const alice = await here.createUser('alice');
      expect(await there.getUser(alice.id)).toBeNull();
      expect(await there.listUsers()).toEqual([]);
      await there.createUser('alice');
      const tables = await sql<{ table_schema: string }>(
        `SELECT DISTINCT table_schema FROM information_schema.tables WHERE table_name = 'sessions'
         AND table_schema IN ($1, $2) ORDER BY 1`,
        [schema, other],
      );
      expect(tables.map((t) => t.table_schema)).toEqual([schema, other].sort());
    } finally {
      for (const store of opened.splice(0)) await store.close();
      await dropTestSchema(database.url, other);
    }
  });

  it('refuses a schema name that is not a plain lowercase identifier', async () => {
    for (const bad of ['Public', 'a-b', 'x; DROP TABLE users', '1abc', '', 'a'.repeat(64)]) {
      await expect(open({ schema: bad }), bad).rejects.toThrow(/invalid PostgreSQL schema name/);
    }
  });

  it('fails clearly when the server does not answer, without revealing the password', async () => {
    const err = (await PostgresStore.open({
      connectionString: 'postgresql://postgres:hunter2@127.0.0.1:1/test',
      schema,
    }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain('could not open the PostgreSQL store at postgresql://postgres:***@127.0.0.1:1/test');
    expect(err.message).not.toContain('hunter2');
  });

  it('keeps the same migration versions and meaning as SQLite', () => {
    const summary = (m: { version: number; description: string }) => [m.version, m.description];
    expect(PG_MIGRATIONS.map(summary)).toEqual(MIGRATIONS.map(summary));
  });

  it('closing twice is harmless', async () => {
    const store = await open();
    await store.close();
    await expect(store.close()).resolves.toBeUndefined();
  });
});
