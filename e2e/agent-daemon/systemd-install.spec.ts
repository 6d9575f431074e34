import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT_CONFIG, EXIT_TOKEN_REFUSED, loadAgentConfig } from '@st/agent';
import { REPO_ROOT, cleanupAll, makeTempDir } from '@st/testing';

const DEPLOY = join(REPO_ROOT, 'deploy', 'systemd');
const INSTALL = join(DEPLOY, 'install.sh');
const UNIT = readFileSync(join(DEPLOY, 'st-agent.service'), 'utf8');

afterAll(cleanupAll);

/** The unit's `Key=value` lines (comments dropped), each key with every value it was given. */
function directives(unit: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1], [...(out.get(m[1]) ?? []), m[2]]);
  }
  return out;
}

/**
 * Runs install.sh with a PATH whose systemctl, groupadd and chgrp only record that they were
 * called: with DESTDIR nothing of the host's may be touched.
 */
async function install(destdir: string, args: string[] = []) {
  const bin = makeTempDir('st-install-bin-');
  const calls = join(bin, 'calls');
  for (const tool of ['systemctl', 'groupadd', 'chgrp']) {
    writeFileSync(join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> ${calls}\n`);
    chmodSync(join(bin, tool), 0o755);
  }
  const result = await promisify(execFile)('bash', [INSTALL, ...args], { env: { PATH: `${bin}:${process.env.PATH}`, DESTDIR: destdir } });
  return { ...result, calls: existsSync(calls) ? readFileSync(calls, 'utf8') : '' };
}

describe('the systemd unit', () => {
  const unit = directives(UNIT);
  const one = (key: string) => unit.get(key)?.join(' | ');

  it('is a notify service with watchdog, credential, drain margin and no restart into a fatal exit', () => {
    expect(one('Type')).toBe('notify');
    expect(one('NotifyAccess')).toBe('all');
    expect(one('Restart')).toBe('on-failure');
    expect(one('RestartPreventExitStatus')).toBe(`${EXIT_CONFIG} ${EXIT_TOKEN_REFUSED}`);
    expect(one('ExecStart')).toBe('/usr/bin/node /opt/session-tunnels/st-agent.js --config /etc/session-tunnels/agent.yaml');
    expect(one('EnvironmentFile')).toBe('-/etc/session-tunnels/agent.env');
    expect(one('WatchdogSec')).toBe('30');
    expect(one('KillSignal')).toBe('SIGTERM');
    // The drain grace (30 s by default) must fit before SIGKILL.
    expect(Number(one('TimeoutStopSec'))).toBeGreaterThan(30);
    expect(one('LoadCredential')).toBe('token:/etc/session-tunnels/agent.token');
  });

  it('is hardened, but lets V8 JIT (no MemoryDenyWriteExecute)', () => {
    for (const [key, value] of Object.entries({
      DynamicUser: 'yes',
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectControlGroups: 'yes',
      RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
      RestrictNamespaces: 'yes',
      LockPersonality: 'yes',
      SystemCallArchitectures: 'native',
      CapabilityBoundingSet: '',
    })) {
      expect(one(key), key).toBe(value);
    }
    expect(unit.has('MemoryDenyWriteExecute')).toBe(false);
  });

  it('explains every directive in a comment just above it', () => {
    const lines = UNIT.split('\n');
    // A directive may also follow another that shares its comment (KillSignal, TimeoutStopSec).
    const explained = (i: number) => /^(#|[A-Za-z]+=)/.test(lines[i - 1] ?? '');
    const bare = lines.filter((line, i) => /^[A-Za-z]+=/.test(line) && !/^(Description|WantedBy)=/.test(line) && !explained(i));
    expect(bare).toEqual([]);
  });

  it('passes systemd-analyze verify', () => {
    const dir = makeTempDir('st-unit-');
    writeFileSync(join(dir, 'st-agent.service'), UNIT);
    execFileSync('systemd-analyze', ['verify', join(dir, 'st-agent.service')], { stdio: 'pipe' });
  });
});

describe('install.sh', () => {
  it('installs bundle, unit and a 0640 agent.yaml under DESTDIR, again without harm, and calls no systemctl', async () => {
    const root = makeTempDir('st-install-');
    const first = await install(root);
    expect(first.stdout).toMatch(/wrote .*\/etc\/session-tunnels\/agent\.yaml/);
    const mode = (p: string) => (statSync(join(root, p)).mode & 0o777).toString(8);
    expect(mode('opt/session-tunnels/st-agent.js')).toBe('644');
    expect(mode('etc/systemd/system/st-agent.service')).toBe('644');
    expect(mode('etc/session-tunnels/agent.yaml')).toBe('640');
    // Buffer.equals: a deep toEqual of 3 MB takes seconds.
    expect(readFileSync(join(root, 'opt/session-tunnels/st-agent.js')).equals(readFileSync(join(REPO_ROOT, 'apps/agent/dist/st-agent.js')))).toBe(true);
    expect(readFileSync(join(root, 'etc/systemd/system/st-agent.service'), 'utf8')).toBe(UNIT);

    // A second run keeps the operator's settings.
    writeFileSync(join(root, 'etc/session-tunnels/agent.yaml'), 'brokerUrl: http://mine:1\n');
    const second = await install(root);
    expect(second.stdout).toMatch(/kept .*agent\.yaml/);
    expect(readFileSync(join(root, 'etc/session-tunnels/agent.yaml'), 'utf8')).toBe('brokerUrl: http://mine:1\n');
    expect(first.calls + second.calls).toBe('');
  });

  it('explains itself with --help and refuses unknown options', async () => {
    const { stdout } = await promisify(execFile)('bash', [INSTALL, '--help']);
    expect(stdout).toMatch(/^Usage: install\.sh /);
    expect(stdout).toMatch(/DESTDIR=DIR/);
    await expect(promisify(execFile)('bash', [INSTALL, '--frobnicate'])).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown option --frobnicate/) });
  });

  it('installs an example agent.yaml that the agent reads, once brokerUrl is set', () => {
    const root = makeTempDir('st-install-');
    const example = readFileSync(join(DEPLOY, 'agent.yaml.example'), 'utf8');
    writeFileSync(join(root, 'token'), 'st_agent_x\n');
    writeFileSync(join(root, 'agent.yaml'), example);
    const config = loadAgentConfig({ argv: ['--config', join(root, 'agent.yaml')], env: { CREDENTIALS_DIRECTORY: root } });
    expect(config).toMatchObject({ brokerUrl: 'http://st.example.com:50051', drainGraceMs: 30_000, token: 'st_agent_x' });
    // Every setting the file may hold is in the example, so operators can find them.
    for (const key of ['brokerUrl', 'tokenFile', 'upstreamUrl', 'caFile', 'drainGraceMs', 'reconnectMaxMs']) expect(example).toMatch(new RegExp(`^#? ?${key}:`, 'm'));
  });
});
