import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { capturingLogger } from '@st/testing';
import { ensurePrivateDir, tightenDataDirFiles } from './private-files';
import { SQLITE_FILE_NAME, SqliteStore } from './sqlite/sqlite-store';

const mode = (path: string) => statSync(path).mode & 0o777;

describe('the data directory', () => {
  let root: string;
  let umask: number;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'st-private-'));
    // The usual umask: files come out 0644 and directories 0755 unless the code says otherwise.
    umask = process.umask(0o022);
  });

  afterEach(() => {
    process.umask(umask);
    rmSync(root, { recursive: true, force: true });
  });

  it('is made 0700 with the database, its WAL and shared-memory files 0600 under umask 022', async () => {
    const dir = join(root, 'data');
    const store = SqliteStore.open({ dataDir: dir });
    await store.createUser('alice'); // writes through the WAL
    const db = join(dir, SQLITE_FILE_NAME);
    expect(mode(dir).toString(8)).toBe('700');
    for (const file of [db, `${db}-wal`, `${db}-shm`]) expect(mode(file).toString(8), file).toBe('600');
    await store.close();
  });

  it('tightens an existing 0755 directory and 0644 files at open, saying so in the log', async () => {
    const dir = join(root, 'old');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const db = join(dir, SQLITE_FILE_NAME);
    const first = SqliteStore.open({ dataDir: dir });
    await first.close();
    chmodSync(db, 0o644);
    writeFileSync(join(dir, 'secret.key'), 'k\n', { mode: 0o644 });
    chmodSync(dir, 0o755);

    const { logger, lines } = capturingLogger();
    const store = SqliteStore.open({ dataDir: dir, logger });
    await store.createUser('bob');
    await store.close();
    logger.flush();
    expect(mode(dir).toString(8)).toBe('700');
    expect(mode(db).toString(8)).toBe('600');
    // Not the store's file, but the data directory's: the control plane tightens it at start.
    tightenDataDirFiles(dir, logger);
    expect(mode(join(dir, 'secret.key')).toString(8)).toBe('600');
    await new Promise((r) => setImmediate(r));
    const tightened = lines.filter((l) => l.msg.startsWith('tightened the permissions'));
    expect(tightened.map((l) => [l.path, l.was])).toEqual(
      expect.arrayContaining([
        [dir, '0755'],
        [db, '0644'],
        [join(dir, 'secret.key'), '0644'],
      ]),
    );
  });

  it('leaves a directory that is already private alone, without a log line', () => {
    const dir = join(root, 'fine');
    mkdirSync(dir, { mode: 0o700 });
    const { logger, lines } = capturingLogger();
    ensurePrivateDir(dir, logger);
    expect(mode(dir).toString(8)).toBe('700');
    expect(lines).toEqual([]);
  });
});
