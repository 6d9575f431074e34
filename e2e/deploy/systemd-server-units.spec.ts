import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { SERVER_SETTINGS } from '@st/control-plane';
import { REPO_ROOT, cleanupAll, makeTempDir } from '@st/testing';

/**
 * The server roles' systemd units and install-server.sh, checked as files: what they run, what
 * they read, how they restart and stop. (Booting them under a real systemd is the nspawn spec's.)
 */

const DEPLOY = join(REPO_ROOT, 'deploy', 'systemd');
const INSTALL = join(DEPLOY, 'install-server.sh');
const ROLES = ['server', 'broker', 'gateway', 'discovery'] as const;
const SECRET_SETTINGS = ['ST_SERVICE_TOKEN', 'ST_SECRET_KEY', 'ST_ADMIN_TOKEN', 'ST_DATABASE_URL'];
const KNOWN_SETTINGS = new Set(Object.values(SERVER_SETTINGS).map((s) => s.env));

afterAll(cleanupAll);

/** The unit's `Key=value` lines (comments dropped), each key with every value it was given. */
function directives(role: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of readFileSync(join(DEPLOY, `st-${role}.service`), 'utf8').split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1], [...(out.get(m[1]) ?? []), m[2]]);
  }
  return out;
}

/** KEY=value lines of an example env file, commented-out ones too (they document settings). */
function exampleKeys(name: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync(join(DEPLOY, `${name}.env.example`), 'utf8').split('\n')) {
    const m = /^#?(ST_[A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

describe.each(ROLES)('st-%s.service', (role) => {
  const unit = directives(role);
  const one = (key: string) => unit.get(key)?.[0];

  it('parses cleanly for systemd (systemd-analyze verify: no unknown key or bad value)', async () => {
    const { stdout, stderr } = await promisify(execFile)('systemd-analyze', ['verify', join(DEPLOY, `st-${role}.service`)]).catch((err) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('systemd-analyze not found: install Debian\'s systemd (.ci/run does)');
      throw err;
    });
    expect(`${stdout}${stderr}`.trim()).toBe('');
  });

  it('runs the launcher of the built repository under /opt/session-tunnels/server with node', () => {
    expect(unit.get('ExecStart')).toEqual([`/usr/bin/node /opt/session-tunnels/server/apps/${role}/bin/st-${role}.js`]);
    expect(one('Type')).toBe('exec');
  });

  it('reads the shared settings, the 0600 secrets file and its own settings, in that order', () => {
    const files = unit.get('EnvironmentFile');
    const own = role === 'server' ? [] : [`/etc/session-tunnels/${role}.env`];
    expect(files).toEqual(['-/etc/session-tunnels/server.env', '-/etc/session-tunnels/secrets.env', ...own]);
    // The servers read no $CREDENTIALS_DIRECTORY: a credential would never reach them.
    expect(unit.has('LoadCredential')).toBe(false);
  });

  it('restarts after a crash but not after an invalid configuration (exit 2)', () => {
    expect(one('Restart')).toBe('on-failure');
    expect(one('RestartPreventExitStatus')?.split(/\s+/)).toContain('2');
  });

  it('waits longer on stop than the example grace plus the 1.5 s after which the server exits itself', () => {
    const graceMs = Number(exampleKeys('server').get('ST_SHUTDOWN_GRACE_MS'));
    expect(graceMs).toBeGreaterThan(0);
    expect(Number(one('TimeoutStopSec')) * 1000).toBeGreaterThan(graceMs + 1500);
  });

  it('runs as the shared dynamic user with a state directory, no capabilities and a read-only system', () => {
    expect(one('DynamicUser')).toBe('yes');
    expect(one('User')).toBe('st-server');
    expect(one('StateDirectory')).toBe('session-tunnels');
    expect(unit.get('Environment')).toContain('ST_DATA_DIR=/var/lib/session-tunnels');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(unit.get('CapabilityBoundingSet')).toEqual(['']);
    expect(Number(one('LimitNOFILE'))).toBeGreaterThanOrEqual(8192);
  });
});

describe('the example env files', () => {
  it('name only real settings, and secrets only in secrets.env', () => {
    for (const name of ['server', 'secrets', ...ROLES.filter((r) => r !== 'server')]) {
      for (const key of exampleKeys(name).keys()) {
        expect(KNOWN_SETTINGS, `${name}.env.example: ${key}`).toContain(key);
        if (name !== 'secrets') expect(SECRET_SETTINGS, `${name}.env.example: ${key}`).not.toContain(key);
      }
    }
    expect([...exampleKeys('secrets').keys()].sort()).toEqual([...SECRET_SETTINGS].sort());
  });

  it('give the broker an advertise address, since it listens on every interface', () => {
    const broker = exampleKeys('broker');
    expect(broker.get('ST_HOST')).toBe('0.0.0.0');
    expect(broker.get('ST_ADVERTISE_ADDRESS')).toMatch(/^[^\s/]+:\d+$/);
  });
});

describe('install-server.sh', () => {
  /** A stand-in for a built checkout: what the script copies, without 500 MB of node_modules. */
  function fakeCheckout(): string {
    const root = makeTempDir('st-server-checkout-');
    const files: Record<string, string> = { 'package.json': '{}', 'docs/deployment.md': '# guide\n', 'node_modules/pg/index.js': '' };
    for (const role of ROLES) {
      files[`apps/${role}/package.json`] = '{}';
      files[`apps/${role}/bin/st-${role}.js`] = '';
      files[`apps/${role}/dist/main.js`] = '';
    }
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return root;
  }
  const run = (args: string[], destdir: string) => promisify(execFile)('bash', [INSTALL, ...args], { env: { PATH: process.env.PATH, DESTDIR: destdir } });
  const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

  it('lays out the program, the four units and 0600 settings, and keeps settings on a second run', async () => {
    const from = fakeCheckout();
    const dest = makeTempDir('st-server-dest-');
    await run(['--from', from, '--enable', 'broker,gateway'], dest);
    for (const role of ROLES) {
      expect(existsSync(join(dest, `opt/session-tunnels/server/apps/${role}/bin/st-${role}.js`)), role).toBe(true);
      expect(readFileSync(join(dest, `etc/systemd/system/st-${role}.service`), 'utf8')).toBe(readFileSync(join(DEPLOY, `st-${role}.service`), 'utf8'));
    }
    expect(existsSync(join(dest, 'opt/session-tunnels/server/node_modules/pg/index.js'))).toBe(true);
    for (const name of ['server', 'broker', 'gateway', 'discovery', 'secrets']) {
      expect(mode(join(dest, `etc/session-tunnels/${name}.env`)), name).toBe('600');
    }
    writeFileSync(join(dest, 'etc/session-tunnels/secrets.env'), 'ST_ADMIN_TOKEN=mine\n');
    const again = await run(['--from', from], dest);
    expect(again.stdout).toContain('kept');
    expect(readFileSync(join(dest, 'etc/session-tunnels/secrets.env'), 'utf8')).toBe('ST_ADMIN_TOKEN=mine\n');
  });

  it('refuses a checkout that is not built, and an unknown unit, saying what to do', async () => {
    const dest = makeTempDir('st-server-dest-');
    await expect(run(['--from', makeTempDir('st-server-empty-')], dest)).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('npm ci && npm run build') });
    await expect(run(['--enable', 'agent'], dest)).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('unknown unit agent') });
  });
});
