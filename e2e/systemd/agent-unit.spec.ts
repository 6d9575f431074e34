import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_TOKEN_REFUSED } from '@st/agent';
import {
  ControlPlaneApi,
  type DemoCredentials,
  type MockModel,
  NspawnContainer,
  REPO_ROOT,
  type Server,
  cleanupAll,
  demoInit,
  ensureRootfs,
  startMockModel,
  startServer,
} from '@st/testing';
import { SHOWN, processUser, requireContainers, skip, skipNote, waitForUnit as waitForAny } from './support';

/**
 * deploy/systemd/st-agent.service under a real systemd: a Debian bookworm booted with
 * systemd-nspawn (systemd as PID 1, the host's network), st-server and the mock model on the
 * host's 127.0.0.1. The tests run in order on one container: install, start, watchdog, refusal.
 */

const MODEL = 'mock-llama-3-8b';
const UNIT = 'st-agent.service';
/** Where the repository's deploy/systemd and the agent's bundle appear inside the container. */
const SRC = '/src';

let container: NspawnContainer | undefined;
let server: Server;
let mock: MockModel;
let demo: DemoCredentials;

beforeAll(async () => {
  if (skip) return;
  requireContainers();
  // The first run makes the rootfs with debootstrap (1-2.5 min); later runs find it cached.
  await ensureRootfs();
  [server, mock] = await Promise.all([startServer(), startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0 })]);
  demo = await demoInit(server.dataDir);
  container = await NspawnContainer.boot({
    readOnly: [
      // The unit runs /usr/bin/node; the bundle is plain node without node_modules.
      { host: process.execPath, container: '/usr/bin/node' },
      { host: `${REPO_ROOT}/deploy/systemd`, container: `${SRC}/deploy/systemd` },
      { host: `${REPO_ROOT}/apps/agent/dist`, container: `${SRC}/apps/agent/dist` },
    ],
  });
}, 300_000);

afterAll(async () => {
  await container?.destroy();
  await cleanupAll();
}, 60_000);

function box(): NspawnContainer {
  if (!container) throw new Error('the container did not boot (see beforeAll)');
  return container;
}

async function unit(): Promise<Record<string, string>> {
  return box().show(UNIT, SHOWN);
}

function waitForUnit(what: string, check: (u: Record<string, string>) => boolean, timeoutMs: number): Promise<Record<string, string>> {
  return waitForAny(box(), UNIT, what, check, timeoutMs);
}

const connected = (u: Record<string, string>) => u.ActiveState === 'active' && u.StatusText.startsWith('connected to broker');

async function chat(): Promise<{ status: number; text: string }> {
  const res = await fetch(`${server.publicUrl}/t/${demo.tunnelId}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${demo.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'from the container?' }], max_tokens: 3 }),
  });
  return { status: res.status, text: await res.text() };
}

/** The NUL-separated /proc file of a process inside the container, as its entries. */
async function procEntries(pid: string, file: 'environ' | 'cmdline'): Promise<string[]> {
  return (await box().run(['cat', `/proc/${pid}/${file}`])).split('\0').filter(Boolean);
}

describe.skipIf(skip)(`st-agent.service under a real systemd${skipNote}`, () => {
  it('install.sh installs and enables the unit inside the container', async () => {
    const c = box();
    const out = await c.run(['bash', `${SRC}/deploy/systemd/install.sh`]);
    expect(out).toContain('installed /opt/session-tunnels/st-agent.js and /etc/systemd/system/st-agent.service');
    expect(out).toContain('created the group session-tunnels');
    expect((await unit()).UnitFileState).toBe('enabled');
    expect(await c.run(['stat', '-c', '%a %G', '/etc/session-tunnels/agent.yaml'])).toBe('640 session-tunnels\n');

    // What an operator does next: the settings, and the token in a root-only file.
    await c.run(['sh', '-c', 'cat > /etc/session-tunnels/agent.yaml'], `brokerUrl: http://127.0.0.1:${server.grpcPort}\nupstreamUrl: ${mock.url}\nreconnectMaxMs: 1000\n`);
    await c.writeFile('/etc/session-tunnels/agent.token', `${demo.agentToken}\n`, '0600');
    // The unit's own WatchdogSec=30 would make the watchdog test wait half a minute: a drop-in,
    // as an administrator would write one, shortens it and the restart delay.
    await c.writeFile('/etc/systemd/system/st-agent.service.d/10-test.conf', '[Service]\nWatchdogSec=4s\nRestartSec=1s\n');
    await c.run(['systemctl', 'daemon-reload']);
  }, 60_000);

  it('starts as Type=notify: READY, the STATUS text, the token as a credential, a dynamic user', async () => {
    const c = box();
    // For Type=notify, `systemctl start` returns only once the agent has sent READY=1.
    await c.run(['systemctl', 'start', UNIT]);
    const u = await waitForUnit('STATUS= "connected to broker …"', connected, 20_000);
    expect(u).toMatchObject({ Type: 'notify', ActiveState: 'active', SubState: 'running', NRestarts: '0' });
    expect(u.StatusText).toBe(`connected to broker http://127.0.0.1:${server.grpcPort} for tunnel ${demo.tunnelId}, upstream ${mock.url}`);
    const status = (await c.exec(['systemctl', 'status', '--no-pager', UNIT])).stdout;
    expect(status).toMatch(/Active: active \(running\)/);
    expect(status).toContain(`Status: "${u.StatusText}"`);

    // The token reaches the agent only as $CREDENTIALS_DIRECTORY/token, never in its environment
    // or on its command line.
    const environ = await procEntries(u.MainPID, 'environ');
    const cmdline = await procEntries(u.MainPID, 'cmdline');
    for (const entries of [environ, cmdline]) expect(entries.join('\n')).not.toContain(demo.agentToken);
    const credentials = environ.find((e) => e.startsWith('CREDENTIALS_DIRECTORY='))?.split('=')[1];
    expect(credentials, environ.join('\n')).toBeTruthy();
    expect(await c.run(['cat', `${credentials}/token`])).toBe(`${demo.agentToken}\n`);
    expect(cmdline).toEqual(['/usr/bin/node', '/opt/session-tunnels/st-agent.js', '--config', '/etc/session-tunnels/agent.yaml']);

    // DynamicUser=yes: a throwaway user named for the unit, not root, with the settings' group.
    const user = await processUser(c, u.MainPID);
    expect(user.uid).toBeGreaterThan(0);
    expect(user.name).toBe('st-agent');
    const settingsGid = (await c.run(['getent', 'group', 'session-tunnels'])).split(':')[2];
    expect(user.groups).toContain(settingsGid);

    // The whole path: gateway and broker on the host, the agent in the container, the model on the host.
    const answer = await chat();
    expect(answer.status, answer.text).toBe(200);
    expect((JSON.parse(answer.text) as { model: string }).model).toBe(MODEL);
  }, 60_000);

  it('the watchdog restarts a hung agent, which connects again', async () => {
    const c = box();
    const before = await unit();
    expect(connected(before), JSON.stringify(before)).toBe(true);
    // A hung event loop sends no more pings: SIGSTOP freezes the agent as a hang would.
    // (sh's kill: minbase has no procps, so no /bin/kill.)
    await c.run(['sh', '-c', 'kill -STOP "$1"', 'sh', before.MainPID]);
    const after = await waitForUnit(
      'a restart by the watchdog (a new MainPID, NRestarts up) and connected again',
      (u) => u.MainPID !== before.MainPID && u.MainPID !== '0' && Number(u.NRestarts) === Number(before.NRestarts) + 1 && connected(u),
      // WatchdogSec=4 s, then SIGABRT (with SIGCONT), RestartSec=1 s and a fresh start: ~7 s.
      30_000,
    );
    expect(after.SubState).toBe('running');
    expect(await c.journal(UNIT)).toMatch(/Watchdog timeout/);
    const answer = await chat();
    expect(answer.status, answer.text).toBe(200);
  }, 60_000);

  it('systemctl stop drains and ends inactive, not failed; start connects again', async () => {
    const c = box();
    // SIGTERM to the agent alone (KillMode=mixed); it drains and exits 0 well within TimeoutStopSec.
    await c.run(['systemctl', 'stop', UNIT]);
    expect(await c.show(UNIT, ['ActiveState', 'Result', 'ExecMainStatus'])).toEqual({ ActiveState: 'inactive', Result: 'success', ExecMainStatus: '0' });
    expect(await c.journal(UNIT)).toMatch(/Stopped st-agent\.service/);
    await c.run(['systemctl', 'start', UNIT]);
    await waitForUnit('connected again after a start', connected, 20_000);
  }, 60_000);

  it('exit 3 (the token refused after a rotation) is not restarted: the unit stays failed', async () => {
    const c = box();
    const before = await unit();
    const api = new ControlPlaneApi(server.grpcPort!);
    try {
      // The rotation drops the live stream; the agent's reconnect with the old token is refused.
      await api.as(demo.apiKey).rotateTunnelToken(demo.tunnelId);
    } finally {
      api.close();
    }
    // failed/failed is final: a unit that systemd meant to restart would be activating/auto-restart.
    const u = await waitForUnit('the unit to fail with exit status 3', (x) => x.ActiveState === 'failed', 30_000);
    expect(u).toMatchObject({ ActiveState: 'failed', SubState: 'failed', Result: 'exit-code', ExecMainStatus: String(EXIT_TOKEN_REFUSED), MainPID: '0' });
    expect(u.NRestarts).toBe(before.NRestarts);
    const status = (await c.exec(['systemctl', 'status', '--no-pager', UNIT])).stdout;
    expect(status).toMatch(/Active: failed \(Result: exit-code\)/);
    expect(status).toMatch(/status=3/);
    expect(await c.journal(UNIT)).toMatch(/the broker refused the tunnel token/);
  }, 60_000);
});
