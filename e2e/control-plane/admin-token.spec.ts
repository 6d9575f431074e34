import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ControlPlaneApi,
  type Server,
  builtApp,
  cleanupAll,
  demoInit,
  grpcError,
  makeTempDir,
  spawnProcess,
  startServer,
  statusName,
  waitUntil,
} from '@st/testing';

/**
 * The admin token of a real installation: made on first start and kept only as a digest in the
 * store, minted again with `st-server admin-token --reset` (running servers take it within
 * seconds), fresh on every demo start; and the data directory that holds the rest, private
 * whatever the umask or the directory's earlier mode.
 */

const ADMIN_LINE = /^st-server: admin token \(shown once[^)]*\): (\S+)$/;
const EXPORT_LINE = /^export ST_ADMIN_TOKEN=(st_admin_[A-Za-z0-9_-]{43})$/;

let server: Server;
let api: ControlPlaneApi;
let firstToken: string;
let umask: number;

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

async function adminWorks(token: string): Promise<boolean> {
  try {
    await api.as(token).listUsers();
    return true;
  } catch (err) {
    if (statusName((err as { code: number }).code) === 'UNAUTHENTICATED') return false;
    throw err;
  }
}

async function resetAdminToken(env: Record<string, string>) {
  const proc = spawnProcess({ name: 'st-server admin-token --reset', script: builtApp('server'), args: ['admin-token', '--reset'], env: { ST_DATA_DIR: server.dataDir, ...env } });
  const exit = await proc.exited;
  const out = (stream: 'stdout' | 'stderr') => proc.lines.filter((l) => l.stream === stream).map((l) => l.text);
  return { code: exit.code, stdout: out('stdout'), stderr: out('stderr').join('\n') };
}

beforeAll(async () => {
  // The usual umask, under which files would come out 0644; and a data directory made by hand as 0755.
  umask = process.umask(0o022);
  const dataDir = join(makeTempDir(), 'data');
  mkdirSync(dataDir, { mode: 0o755 });
  chmodSync(dataDir, 0o755);
  server = await startServer({ ST_DATA_DIR: dataDir, ST_SHUTDOWN_GRACE_MS: 500 });
  [, firstToken] = await server.process.waitForLine(ADMIN_LINE, { timeoutMs: 5_000 });
  api = new ControlPlaneApi(server.grpcPort!);
});

afterAll(async () => {
  process.umask(umask);
  api?.close();
  await cleanupAll();
});

describe('the data directory', () => {
  it('is tightened from 0755 to 0700 at start (logged), and every file in it is 0600', async () => {
    await api.as(firstToken).createUser('writer'); // the database has written through its WAL
    expect(mode(server.dataDir)).toBe('700');
    expect(server.process.lines.some((l) => l.text.includes('tightened the permissions of a data directory') && l.text.includes('"was":"0755"'))).toBe(true);
    const files = readdirSync(server.dataDir);
    expect(files).toEqual(expect.arrayContaining(['session-tunnels.db', 'session-tunnels.db-wal', 'session-tunnels.db-shm', 'service-token', 'secret.key']));
    for (const file of files) expect(mode(join(server.dataDir, file)), file).toBe('600');
  });
});

describe('st-server admin-token --reset', () => {
  it('prints a new token once as an export line; the running server takes it and refuses the old one within seconds', async () => {
    expect(await adminWorks(firstToken)).toBe(true);
    const reset = await resetAdminToken({});
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toHaveLength(1);
    const [, fresh] = EXPORT_LINE.exec(reset.stdout[0])!;
    expect(reset.stderr).toMatch(/shown once/);
    // 2 s is the server's refresh interval; several times that on a busy machine.
    await waitUntil('the running server to take the new admin token', () => adminWorks(fresh), 15_000, 100);
    expect(await adminWorks(firstToken)).toBe(false);
    expect(server.process.lines.filter((l) => l.text.includes(fresh))).toEqual([]);
    firstToken = fresh;
  });

  it('refuses while ST_ADMIN_TOKEN is set, naming it, and changes nothing', async () => {
    const refused = await resetAdminToken({ ST_ADMIN_TOKEN: 'configured-elsewhere' });
    expect(refused.code).toBe(2);
    expect(refused.stdout).toEqual([]);
    expect(refused.stderr).toContain('ST_ADMIN_TOKEN is set');
    expect(await adminWorks(firstToken)).toBe(true);
  });
});

describe('the demo', () => {
  it('demo-init mints a fresh admin token each time and returns it', async () => {
    const demo = await demoInit(server.dataDir);
    expect(demo.adminToken).toMatch(/^st_admin_[A-Za-z0-9_-]{43}$/);
    await waitUntil('the running server to take the demo admin token', () => adminWorks(demo.adminToken!), 15_000, 100);
    expect(await adminWorks(firstToken)).toBe(false);
  });
});

describe('an installation of an older release', () => {
  it("moves the data directory's admin digest into the store on first start: the same token works, none is printed", async () => {
    const dataDir = makeTempDir();
    const legacy = 'st_admin_from_an_older_release';
    writeFileSync(join(dataDir, 'admin-token.sha256'), `${createHash('sha256').update(legacy).digest('hex')}\n`, { mode: 0o600 });
    const old = await startServer({ ST_DATA_DIR: dataDir, ST_SHUTDOWN_GRACE_MS: 500 });
    const oldApi = new ControlPlaneApi(old.grpcPort!);
    try {
      expect(old.process.lines.filter((l) => ADMIN_LINE.test(l.text))).toEqual([]);
      expect((await oldApi.as(legacy).listUsers()).users).toEqual([]);
      expect(statusName((await grpcError(oldApi.as(`st_admin_${'x'.repeat(43)}`).listUsers())).code)).toBe('UNAUTHENTICATED');
      expect(existsSync(join(dataDir, 'admin-token.sha256'))).toBe(false);
    } finally {
      oldApi.close();
    }
  });
});
