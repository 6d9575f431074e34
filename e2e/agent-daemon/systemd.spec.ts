import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtApp, cleanupAll, closedPort, demoInit, makeTempDir, startMockModel, startServer, spawnProcess, waitUntil } from '@st/testing';

/**
 * systemd's side of sd_notify, made with python3 (Node cannot bind a datagram Unix socket): binds
 * NOTIFY_SOCKET and prints each datagram as one JSON line. recv() takes no ancillary data, so the
 * kernel closes the fd that systemd-notify's BARRIER=1 passes, which releases it at once, as
 * systemd would.
 */
const LISTENER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    print(json.dumps(s.recv(65536).decode("utf-8", "replace")), flush=True)
`;

class NotifyListener {
  /** Every datagram but the barriers, as its fields (`READY=1`, `STATUS=…`). */
  readonly messages: string[][] = [];
  private readonly child: ChildProcess;

  constructor(readonly path: string) {
    this.child = spawn('python3', ['-c', LISTENER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    let partial = '';
    this.child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('"')) continue;
        const fields = (JSON.parse(line) as string).split('\n').filter(Boolean);
        if (fields.join() !== 'BARRIER=1') this.messages.push(fields);
      }
    });
  }

  async listening(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.child.once('error', reject);
      this.child.stdout!.once('data', () => resolve());
    });
  }

  /** Values of `field` in the order received (`STATUS` → every status text). */
  values(field: string): string[] {
    return this.messages.flatMap((m) => m.filter((f) => f.startsWith(`${field}=`)).map((f) => f.slice(field.length + 1)));
  }

  waitFor(what: string, check: () => boolean, timeoutMs = 15_000): Promise<true> {
    return waitUntil(`${what}; received so far: ${JSON.stringify(this.messages)}`, () => check() || undefined, timeoutMs, 25) as Promise<true>;
  }

  close(): void {
    this.child.kill('SIGKILL');
  }
}

let listener: NotifyListener | undefined;

beforeAll(() => {
  // The agent runs the host's systemd-notify: without it there is nothing to test.
  execFileSync('systemd-notify', ['--version']);
});

afterAll(async () => {
  listener?.close();
  await cleanupAll();
});

describe('st-agent under systemd (Type=notify)', () => {
  it('is READY with the broker down, keeps STATUS and the watchdog current, and says STOPPING on SIGTERM', async () => {
    const dir = makeTempDir('st-systemd-');
    const dataDir = makeTempDir('st-systemd-data-');
    const demo = await demoInit(dataDir);
    const tokenFile = join(dir, 'agent.token');
    writeFileSync(tokenFile, `${demo.agentToken}\n`, { mode: 0o600 });
    const [grpcPort, mock] = await Promise.all([closedPort(), startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0 })]);
    listener = new NotifyListener(join(dir, 'notify.sock'));
    await listener.listening();

    const agent = spawnProcess({
      name: 'st-agent',
      script: builtApp('agent'),
      env: {
        NOTIFY_SOCKET: listener.path,
        WATCHDOG_USEC: 2_000_000,
        WATCHDOG_PID: undefined,
        ST_BROKER_URL: `http://127.0.0.1:${grpcPort}`,
        ST_TUNNEL_TOKEN_FILE: tokenFile,
        ST_UPSTREAM_URL: mock.url,
        // Reconnects soon after the broker comes up, so the test does not wait out a long backoff.
        ST_RECONNECT_MAX_MS: 1_000,
      },
    });
    const l = listener;
    const describeAll = () => `\n${agent.describe()}`;

    // Ready although no broker answers: a broker that is down at boot must not fail the unit.
    await l.waitFor(`READY=1${describeAll()}`, () => l.values('READY').includes('1'));
    await l.waitFor('a STATUS saying it retries', () => l.values('STATUS').some((s) => /^retrying in \d+\.\d s: /.test(s)));
    expect(l.values('STATUS')[0]).toBe(`connecting to broker http://127.0.0.1:${grpcPort}`);
    // One readable line for `systemctl status`, without grpc-js's wrapping.
    expect(l.values('STATUS').find((s) => s.startsWith('retrying'))).toMatch(/^retrying in \d+\.\d s: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
    // WatchdogSec=2 s: a ping every second, whatever the broker does.
    const pingsBefore = l.values('WATCHDOG').length;
    await l.waitFor('three more watchdog pings', () => l.values('WATCHDOG').length >= pingsBefore + 3, 15_000);
    expect(l.values('WATCHDOG').every((v) => v === '1')).toBe(true);
    expect(l.values('READY')).toEqual(['1']);
    // systemd-notify sends MAINPID= with --pid: it must be the agent itself.
    expect(new Set(l.values('MAINPID'))).toEqual(new Set([String(agent.pid)]));

    const server = await startServer({ ST_DATA_DIR: dataDir, ST_GRPC_PORT: grpcPort });
    await l.waitFor(`STATUS connected${describeAll()}`, () =>
      l.values('STATUS').some((s) => s.startsWith(`connected to broker http://127.0.0.1:${grpcPort} for tunnel ${demo.tunnelId}, upstream ${mock.url}`)),
    );
    const pingsConnected = l.values('WATCHDOG').length;
    await l.waitFor('a watchdog ping while connected', () => l.values('WATCHDOG').length > pingsConnected, 5_000);

    const exit = await agent.stop('SIGTERM', 10_000);
    expect(exit.code).toBe(0);
    expect(l.values('STOPPING')).toEqual(['1']);
    expect(l.values('STATUS').at(-1)).toMatch(/^draining: /);
    // Nothing after STOPPING but status: no READY again, no stray messages.
    const stoppingAt = l.messages.findIndex((m) => m.includes('STOPPING=1'));
    expect(l.messages.slice(stoppingAt + 1).flat().filter((f) => !/^(STATUS|MAINPID|WATCHDOG)=/.test(f))).toEqual([]);
    await server.process.stop();
    // ~7 s on an idle machine; it timed out at vitest's 30 s with the other core busy.
  }, 120_000);

  it('tells systemd why an invalid configuration stops it (exit 2: RestartPreventExitStatus)', async () => {
    const dir = makeTempDir('st-systemd-');
    const l = new NotifyListener(join(dir, 'notify.sock'));
    await l.listening();
    try {
      const agent = spawnProcess({
        name: 'st-agent',
        script: builtApp('agent'),
        env: { NOTIFY_SOCKET: l.path, ST_BROKER_URL: 'ftp://nowhere', ST_TUNNEL_TOKEN: 't' },
      });
      expect((await agent.exited).code).toBe(2);
      await l.waitFor('STATUS invalid configuration', () => l.values('STATUS').some((s) => s.startsWith('invalid configuration: ST_BROKER_URL / --broker-url: expected an http')));
      expect(l.values('READY')).toEqual([]);
    } finally {
      l.close();
    }
  });
});
