import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { capturingLogger } from '@st/testing';
import { digestSecret, SqliteStore, SQLITE_FILE_NAME, StoreConflictError } from './index';
import { describeStoreContract } from './store-contract';
import { applyMigrations } from './sqlite/apply-migrations';
import { MIGRATIONS } from './sqlite/migrations';

const tempDir = () => mkdtempSync(join(tmpdir(), 'st-store-'));

describeStoreContract('SQLite', async () => {
  const dataDir = tempDir();
  const store = SqliteStore.open({ dataDir });
  return {
    store,
    async cleanup() {
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
});

describeStoreContract('SQLite in memory', async () => {
  const store = SqliteStore.open({ file: ':memory:' });
  return { store, cleanup: () => store.close() };
});

describe('SqliteStore on disk', () => {
  let dataDir: string;
  const opened: SqliteStore[] = [];
  const open = (dir = dataDir) => {
    const store = SqliteStore.open({ dataDir: dir });
    opened.push(store);
    return store;
  };

  beforeEach(() => {
    dataDir = tempDir();
  });

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('creates a missing data directory readable by its owner only', async () => {
    const nested = join(dataDir, 'a', 'state');
    open(nested);
    expect(statSync(nested).mode & 0o777).toBe(0o700);
    expect(readdirSync(nested)).toContain(SQLITE_FILE_NAME);
  });

  it('stores only digests of secrets, never the secrets themselves', async () => {
    const store = open();
    const user = await store.createUser('alice');
    const { apiKey } = await store.createApiKey(user.id);
    const { tunnel, agentToken: firstToken } = await store.createTunnel({ userId: user.id, name: 'gpu' });
    const agentToken = await store.rotateAgentToken(tunnel.id);

    // Straight from the file through another connection, as an attacker with a copy would read it.
    const db = new Database(join(dataDir, SQLITE_FILE_NAME), { readonly: true });
    const keyRow = db.prepare('SELECT * FROM api_keys').get() as Record<string, unknown>;
    const tunnelRow = db.prepare('SELECT * FROM tunnels').get() as Record<string, unknown>;
    db.close();
    expect(keyRow.digest).toBe(digestSecret(apiKey));
    expect(tunnelRow.token_digest).toBe(digestSecret(agentToken));

    // Every byte on disk (database, WAL, shared memory), while open and after close.
    const secrets = [apiKey, agentToken, firstToken];
    const assertNoSecretOnDisk = () => {
      const bytes = Buffer.concat(readdirSync(dataDir).map((f) => readFileSync(join(dataDir, f))));
      // The digests are there, so this really reads the rows that matter.
      expect(bytes.includes(digestSecret(apiKey))).toBe(true);
      for (const secret of secrets) {
        // The hint shows the first 12 characters; the rest must be nowhere.
        expect(bytes.includes(secret.slice(12))).toBe(false);
      }
    };
    assertNoSecretOnDisk();
    await store.close();
    assertNoSecretOnDisk();
  });

  it('keeps all state across a restart on the same data directory', async () => {
    const first = open();
    const alice = await first.createUser('alice');
    const kept = await first.createApiKey(alice.id);
    const revoked = await first.createApiKey(alice.id);
    await first.revokeApiKey(alice.id, revoked.info.id);
    const { tunnel, agentToken } = await first.createTunnel({ userId: alice.id, name: 'gpu', remotePort: 9000 });
    const stopped = await first.setTunnelState(alice.id, tunnel.id, 'stopped');
    const deleted = await first.createTunnel({ userId: alice.id, name: 'old' });
    await first.deleteTunnel(alice.id, deleted.tunnel.id);
    await first.close();

    const second = open();
    expect(await second.getUserByName('alice')).toEqual(alice);
    expect(await second.authenticateApiKey(kept.apiKey)).toEqual(alice);
    expect(await second.authenticateApiKey(revoked.apiKey)).toBeNull();
    expect(await second.listApiKeys(alice.id)).toEqual([kept.info]);
    expect(await second.listTunnels(alice.id)).toEqual([stopped]);
    expect(await second.authenticateAgentToken(agentToken)).toEqual(stopped);
    expect(await second.authenticateAgentToken(deleted.agentToken)).toBeNull();
    await expect(second.createUser('alice')).rejects.toBeInstanceOf(StoreConflictError);
  });

  it('applies each migration once and logs it', async () => {
    const { logger, lines } = capturingLogger();
    await SqliteStore.open({ dataDir, logger }).close();
    await SqliteStore.open({ dataDir, logger }).close();

    const db = new Database(join(dataDir, SQLITE_FILE_NAME), { readonly: true });
    const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
    db.close();
    expect(versions).toEqual(MIGRATIONS.map((m) => m.version));
    expect(lines.filter((l) => l.msg === 'applied store migration')).toHaveLength(MIGRATIONS.length);
  });

  it('refuses a database written by a newer schema', async () => {
    await SqliteStore.open({ dataDir }).close();
    const db = new Database(join(dataDir, SQLITE_FILE_NAME));
    db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (999, ?)').run(new Date().toISOString());
    db.close();
    expect(() => SqliteStore.open({ dataDir })).toThrow(/schema version 999/);
  });

  it('puts the file in WAL mode', async () => {
    open();
    const db = new Database(join(dataDir, SQLITE_FILE_NAME), { readonly: true });
    const mode = db.pragma('journal_mode', { simple: true });
    db.close();
    expect(mode).toBe('wal');
  });

  it('lets two stores (two processes) share one data directory', async () => {
    const a = open();
    const b = open();
    const alice = await a.createUser('alice');
    const { apiKey } = await a.createApiKey(alice.id);
    const { tunnel, agentToken } = await a.createTunnel({ userId: alice.id, name: 'gpu' });

    expect(await b.authenticateApiKey(apiKey)).toEqual(alice);
    expect(await b.authenticateAgentToken(agentToken)).toEqual(tunnel);

    const rotated = await b.rotateAgentToken(tunnel.id);
    expect(await a.authenticateAgentToken(agentToken)).toBeNull();
    expect(await a.authenticateAgentToken(rotated)).toEqual(tunnel);

    await expect(b.createUser('alice')).rejects.toBeInstanceOf(StoreConflictError);
    await b.setTunnelState(alice.id, tunnel.id, 'stopped');
    expect((await a.getTunnel(tunnel.id))?.state).toBe('stopped');
  });

  it('cascades a user deletion to keys and tunnels', async () => {
    // Proves foreign keys are enforced on the store's connection, which ON DELETE CASCADE needs.
    const store = open();
    const alice = await store.createUser('alice');
    const { apiKey } = await store.createApiKey(alice.id);
    const { agentToken } = await store.createTunnel({ userId: alice.id, name: 'gpu' });
    const db = new Database(join(dataDir, SQLITE_FILE_NAME));
    db.pragma('foreign_keys = ON');
    db.prepare('DELETE FROM users WHERE id = ?').run(alice.id);
    db.close();
    expect(await store.authenticateApiKey(apiKey)).toBeNull();
    expect(await store.authenticateAgentToken(agentToken)).toBeNull();
  });

  it('upgrades a version-1 database, keeping its tunnels as belonging to no session', async () => {
    const now = () => new Date().toISOString();
    const token = 'st_agent_' + 'A'.repeat(43);
    const db = new Database(join(dataDir, SQLITE_FILE_NAME));
    applyMigrations(db, MIGRATIONS.slice(0, 1), now);
    db.prepare("INSERT INTO users (id, name, created_at) VALUES ('u-legacylegacy', 'old', ?)").run(now());
    db.prepare(
      `INSERT INTO tunnels (id, user_id, name, remote_host, remote_port, openai, state, token_digest, created_at)
       VALUES ('t-legacylegacy', 'u-legacylegacy', 'gpu', 'localhost', 8000, 1, 'started', ?, ?)`,
    ).run(digestSecret(token), now());
    db.close();

    const store = open();
    expect(await store.authenticateAgentToken(token)).toMatchObject({
      id: 't-legacylegacy',
      sessionId: null,
      hasUpstreamKey: false,
    });
    expect(await store.getUpstreamKeyCiphertext('t-legacylegacy')).toBeNull();
    const session = await store.createSession('u-legacylegacy', 'train');
    expect(await store.listTunnelsOfSession('u-legacylegacy', session.id)).toEqual([]);
  });

  it('deleting a session deletes its tunnels; deleting a user, its sessions', async () => {
    const store = open();
    const alice = await store.createUser('alice');
    const train = await store.createSession(alice.id, 'train');
    const evaluate = await store.createSession(alice.id, 'eval');
    const inTrain = await store.createTunnel({ userId: alice.id, name: 'a', sessionId: train.id });
    const inEval = await store.createTunnel({ userId: alice.id, name: 'b', sessionId: evaluate.id });
    const db = new Database(join(dataDir, SQLITE_FILE_NAME));
    db.pragma('foreign_keys = ON');
    db.prepare('DELETE FROM sessions WHERE id = ?').run(train.id);
    expect(await store.authenticateAgentToken(inTrain.agentToken)).toBeNull();
    expect(await store.listTunnels(alice.id)).toEqual([inEval.tunnel]);
    db.prepare('DELETE FROM users WHERE id = ?').run(alice.id);
    db.close();
    expect(await store.getSession(evaluate.id)).toBeNull();
    expect(await store.authenticateAgentToken(inEval.agentToken)).toBeNull();
  });

  it('closing twice is harmless', async () => {
    const store = open();
    await store.close();
    await expect(store.close()).resolves.toBeUndefined();
  });
});
