import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SETTING, SqliteStore } from '@st/store';
import { AdminToken, LEGACY_ADMIN_DIGEST_FILE } from './admin-token';

const hex = (s: string) => createHash('sha256').update(s).digest('hex');

describe('AdminToken', () => {
  let dir: string;
  let store: SqliteStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'st-admin-'));
    store = SqliteStore.open({ file: ':memory:' });
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes a token on the first start, keeps only its digest in the store, and makes none after', async () => {
    const first = await AdminToken.load(store, dir);
    expect(first.created).toMatch(/^st_admin_[A-Za-z0-9_-]{43}$/);
    expect(await store.getSetting(SETTING.adminTokenDigest)).toBe(hex(first.created!));
    expect(await first.admin.matches(first.created!)).toBe(true);

    // A second replica (or a restart) on the same store: the same token, nothing printed.
    const second = await AdminToken.load(store, dir);
    expect(second.created).toBeUndefined();
    expect(await second.admin.matches(first.created!)).toBe(true);
    expect(await second.admin.matches(`st_admin_${'x'.repeat(43)}`)).toBe(false);
  });

  it("moves an older release's digest file into the store, keeping the token, and removes the file", async () => {
    const file = join(dir, LEGACY_ADMIN_DIGEST_FILE);
    writeFileSync(file, `${hex('st_admin_from_the_file')}\n`, { mode: 0o600 });
    const { admin, created } = await AdminToken.load(store, dir);
    expect(created).toBeUndefined();
    expect(await admin.matches('st_admin_from_the_file')).toBe(true);
    expect(await store.getSetting(SETTING.adminTokenDigest)).toBe(hex('st_admin_from_the_file'));
    expect(existsSync(file)).toBe(false);
  });

  it('after a reset, running servers take the new token and refuse the old one within seconds', async () => {
    let now = 1_000_000;
    const { admin, created } = await AdminToken.load(store, dir, { now: () => now });
    const fresh = await AdminToken.reset(store);
    expect(fresh).not.toBe(created);
    now += 2_000;
    expect(await admin.matches(created!)).toBe(false);
    expect(await admin.matches(fresh)).toBe(true);
  });

  it('with ST_ADMIN_TOKEN, is that value and ignores the store', async () => {
    await store.putSetting(SETTING.adminTokenDigest, hex('stored'));
    const admin = AdminToken.fixed('configured-token');
    expect(await admin.matches('configured-token')).toBe(true);
    expect(await admin.matches('stored')).toBe(false);
  });

  it('refuses a damaged digest, saying how to mend it', async () => {
    await store.putSetting(SETTING.adminTokenDigest, 'not hex');
    await expect(AdminToken.load(store, dir)).rejects.toThrow(/st-server admin-token --reset/);
  });
});
