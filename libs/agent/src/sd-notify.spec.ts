import { afterEach, describe, expect, it, vi } from 'vitest';
import { type ExecFile, SystemdNotifier } from './sd-notify';

/** A fake systemd-notify: records each call and finishes it only when told to. */
function fakeNotify(options: { help?: string; missing?: boolean } = {}) {
  const calls: string[][] = [];
  const open: (() => void)[] = [];
  const execFile: ExecFile = (_file, args, _opts, callback) => {
    if (options.missing) {
      const error = Object.assign(new Error('spawn systemd-notify ENOENT'), { code: 'ENOENT' });
      queueMicrotask(() => callback(error, '', ''));
      return;
    }
    if (args[0] === '--help') {
      queueMicrotask(() => callback(null, options.help ?? '  --pid[=PID]  Set main PID of daemon\n', ''));
      return;
    }
    calls.push(args);
    open.push(() => callback(null, '', ''));
  };
  /** Finishes the oldest running call and lets the notifier start the next. */
  const finish = async () => {
    open.shift()?.();
    await new Promise((r) => setTimeout(r, 0));
  };
  return { calls, open, execFile, finish };
}

const logger = () => ({ debug: vi.fn(), warn: vi.fn() });
const settle = () => new Promise((r) => setTimeout(r, 0));

afterEach(() => vi.useRealTimers());

describe('SystemdNotifier', () => {
  it('does nothing without NOTIFY_SOCKET', async () => {
    const fake = fakeNotify();
    const n = new SystemdNotifier({ env: { WATCHDOG_USEC: '1000000' }, logger: logger(), execFile: fake.execFile });
    n.ready('up');
    n.status('x');
    expect(n.startWatchdog()).toBeUndefined();
    await settle();
    expect(fake.calls).toEqual([]);
    expect(n.enabled).toBe(false);
  });

  it('sends READY and STATUS in one message, with --pid when systemd-notify knows it', async () => {
    const fake = fakeNotify();
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: '/run/x' }, pid: 42, logger: logger(), execFile: fake.execFile });
    n.ready('connecting to broker http://b:1');
    await settle();
    expect(fake.calls).toEqual([['--pid=42', 'READY=1', 'STATUS=connecting to broker http://b:1']]);
  });

  it('leaves --pid out when this systemd-notify does not know it', async () => {
    const fake = fakeNotify({ help: 'systemd-notify [OPTIONS...]\n  --ready\n' });
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: '/run/x' }, pid: 42, logger: logger(), execFile: fake.execFile });
    n.stopping();
    await settle();
    expect(fake.calls).toEqual([['STOPPING=1']]);
  });

  it('runs one child at a time and sends only the latest STATUS of a flapping connection', async () => {
    const fake = fakeNotify();
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: '/run/x' }, pid: 1, logger: logger(), execFile: fake.execFile });
    n.status('connecting');
    await settle();
    for (let i = 0; i < 1000; i++) n.status(`retrying in ${i} s`);
    n.status('connected to broker');
    await settle();
    expect(fake.open).toHaveLength(1);
    await fake.finish();
    expect(fake.calls).toEqual([
      ['--pid=1', 'STATUS=connecting'],
      ['--pid=1', 'STATUS=connected to broker'],
    ]);
    await fake.finish();
    expect(fake.open).toHaveLength(0);
  });

  it('keeps a status to one line', async () => {
    const fake = fakeNotify();
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: '/run/x' }, pid: 1, logger: logger(), execFile: fake.execFile });
    n.status(`retrying in 1.0 s: a\nb  ${'x'.repeat(1000)}`);
    await settle();
    const status = fake.calls[0][1];
    expect(status).toMatch(/^STATUS=retrying in 1\.0 s: a b x+$/);
    expect(status.length).toBe('STATUS='.length + 400);
  });

  it('pings the watchdog every WATCHDOG_USEC/2, only for the PID in WATCHDOG_PID', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const fake = fakeNotify();
    const other = new SystemdNotifier({ env: { NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '2000000', WATCHDOG_PID: '7' }, pid: 8, logger: logger(), execFile: fake.execFile });
    expect(other.startWatchdog()).toBeUndefined();
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '2000000', WATCHDOG_PID: '8' }, pid: 8, logger: logger(), execFile: fake.execFile });
    expect(n.startWatchdog()).toBe(1000);
    for (let i = 0; i < 3; i++) {
      await vi.advanceTimersByTimeAsync(1000);
      await fake.finish();
    }
    n.stopWatchdog();
    await vi.advanceTimersByTimeAsync(5000);
    expect(fake.calls.every((c) => c.join(' ') === '--pid=8 WATCHDOG=1')).toBe(true);
    expect(fake.calls.length).toBeGreaterThanOrEqual(3);
    expect(fake.calls.length).toBeLessThanOrEqual(4);
  });

  it('gives up quietly (one debug line) when systemd-notify is missing, and never throws', async () => {
    const fake = fakeNotify({ missing: true });
    const log = logger();
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '1000' }, pid: 1, logger: log, execFile: fake.execFile });
    n.ready('up');
    await n.flush(1000);
    n.status('again');
    n.stopping();
    await n.flush(1000);
    expect(n.enabled).toBe(false);
    expect(n.startWatchdog()).toBeUndefined();
    expect(log.debug).toHaveBeenCalledTimes(1);
    expect(log.warn).not.toHaveBeenCalled();
  });

  it('flush waits for the message in flight and the ones queued behind it', async () => {
    const fake = fakeNotify();
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: '/x' }, pid: 1, logger: logger(), execFile: fake.execFile });
    n.status('a');
    await settle();
    n.stopping('draining');
    let flushed = false;
    const done = n.flush(5000).then(() => (flushed = true));
    await fake.finish();
    expect(flushed).toBe(false);
    await fake.finish();
    await done;
    expect(fake.calls[1]).toEqual(['--pid=1', 'STOPPING=1', 'STATUS=draining']);
  });
});
