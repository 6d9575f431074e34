import { execFile as nodeExecFile } from 'node:child_process';
import type { Logger } from '@st/logging';

/** The part of child_process.execFile that the notifier uses (tests pass a fake). */
export type ExecFile = (
  file: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; timeout: number },
  callback: (error: (Error & { code?: unknown }) | null, stdout: string, stderr: string) => void,
) => void;

export interface SystemdNotifierOptions {
  logger: Pick<Logger, 'debug' | 'warn'>;
  /** Defaults to process.env: NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are read from it. */
  env?: NodeJS.ProcessEnv;
  pid?: number;
  execFile?: ExecFile;
  /** Defaults to `systemd-notify`, looked up on PATH. */
  binary?: string;
}

/** A systemd-notify that hangs (a wedged socket) is killed after this long; the next one goes. */
const CHILD_TIMEOUT_MS = 10_000;
/** STATUS= is one line for `systemctl status`: a long error is cut. */
const MAX_STATUS_CHARS = 400;

/**
 * Tells systemd about the agent (sd_notify: READY=1, STATUS=, WATCHDOG=1, STOPPING=1) through the
 * host's `systemd-notify`, since Node cannot send datagrams on a Unix socket. Does nothing unless
 * NOTIFY_SOCKET is set, and never throws: systemd integration must not stop the agent.
 *
 * One child at a time, and what piles up meanwhile goes out as one message with only the latest
 * STATUS=, so a flapping broker connection cannot fork a process per status change.
 */
export class SystemdNotifier {
  private readonly env: NodeJS.ProcessEnv;
  private readonly pid: number;
  private readonly execFile: ExecFile;
  private readonly binary: string;
  private readonly logger: Pick<Logger, 'debug' | 'warn'>;
  /** Fields waiting for the next message, in the order first asked for. */
  private readonly pending = new Map<string, string>();
  private busy = false;
  private disabled: boolean;
  /** Whether this systemd-notify knows --pid (asked once with --help); undefined until then. */
  private pidFlag: boolean | undefined;
  private failures = 0;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private idle: (() => void)[] = [];

  constructor(options: SystemdNotifierOptions) {
    this.env = options.env ?? process.env;
    this.pid = options.pid ?? process.pid;
    this.execFile = options.execFile ?? (nodeExecFile as unknown as ExecFile);
    this.binary = options.binary ?? 'systemd-notify';
    this.logger = options.logger;
    this.disabled = !this.env.NOTIFY_SOCKET;
  }

  /** True when systemd is listening (NOTIFY_SOCKET set) and systemd-notify has not gone missing. */
  get enabled(): boolean {
    return !this.disabled;
  }

  /** Start-up is complete: systemd moves the unit from "activating" to "active". */
  ready(status?: string): void {
    this.queue('READY', '1');
    if (status !== undefined) this.status(status);
  }

  /** The one line `systemctl status` shows; only the latest one is sent. */
  status(text: string): void {
    this.queue('STATUS', text.replace(/\s+/g, ' ').trim().slice(0, MAX_STATUS_CHARS));
  }

  /** Shutdown has begun (systemd waits TimeoutStopSec for the exit). */
  stopping(status?: string): void {
    this.queue('STOPPING', '1');
    if (status !== undefined) this.status(status);
  }

  /**
   * Pings systemd's watchdog every WatchdogSec/2 (WATCHDOG_USEC/2) from a timer on this event
   * loop: a loop that is stuck stops the pings and systemd restarts the agent. The pings say
   * nothing about the broker or the model server: the agent handles those by retrying, and a
   * restart would not mend them. Does nothing without WATCHDOG_USEC, or when WATCHDOG_PID names
   * another process. Returns the interval in ms, or undefined.
   */
  startWatchdog(): number | undefined {
    const usec = Number(this.env.WATCHDOG_USEC);
    if (this.disabled || !Number.isFinite(usec) || usec <= 0) return undefined;
    const watchdogPid = this.env.WATCHDOG_PID;
    if (watchdogPid && Number(watchdogPid) !== this.pid) return undefined;
    const intervalMs = Math.max(1, Math.floor(usec / 2000));
    this.stopWatchdog();
    this.queue('WATCHDOG', '1');
    this.watchdogTimer = setInterval(() => this.queue('WATCHDOG', '1'), intervalMs);
    // The pings must never be what keeps a finished agent alive.
    this.watchdogTimer.unref();
    return intervalMs;
  }

  stopWatchdog(): void {
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.watchdogTimer = undefined;
  }

  /** Resolves once everything asked for has been handed to systemd, or after `timeoutMs`. */
  flush(timeoutMs: number): Promise<void> {
    if (!this.busy && this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      this.idle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private queue(field: string, value: string): void {
    if (this.disabled) return;
    this.pending.set(field, value);
    // On the next microtask, so that what is asked for together (READY and STATUS) goes together.
    if (this.pending.size === 1 && !this.busy) queueMicrotask(() => this.pump());
  }

  private pump(): void {
    if (this.busy) return;
    if (this.disabled || this.pending.size === 0) {
      this.pending.clear();
      for (const done of this.idle.splice(0)) done();
      return;
    }
    this.busy = true;
    const fields = [...this.pending].map(([k, v]) => `${k}=${v}`);
    this.pending.clear();
    void this.send(fields).finally(() => {
      this.busy = false;
      this.pump();
    });
  }

  private async send(fields: string[]): Promise<void> {
    if (this.pidFlag === undefined) {
      const help = await this.run(['--help']);
      if (this.disabled) return;
      // --pid makes the message come from our PID where the kernel allows it (root); it also
      // sets MAINPID=, which is our PID anyway (ExecStart runs node itself).
      this.pidFlag = help.ok && help.stdout.includes('--pid');
    }
    const args = this.pidFlag ? [`--pid=${this.pid}`, ...fields] : fields;
    const result = await this.run(args);
    if (!result.ok && !this.disabled) {
      // Every message is another chance; say so loudly once, then quietly.
      this.failures++;
      const log = this.failures === 1 ? this.logger.warn.bind(this.logger) : this.logger.debug.bind(this.logger);
      log({ fields, error: result.error }, 'systemd-notify failed; systemd may not see this status');
    }
  }

  private run(args: string[]): Promise<{ ok: boolean; stdout: string; error?: string }> {
    return new Promise((resolve) => {
      try {
        // Only what systemd-notify needs: the agent's token may be in our environment.
        const env = { NOTIFY_SOCKET: this.env.NOTIFY_SOCKET, PATH: this.env.PATH ?? process.env.PATH };
        this.execFile(this.binary, args, { env, timeout: CHILD_TIMEOUT_MS }, (error, stdout) => {
          if (error && error.code === 'ENOENT') this.disableMissing();
          resolve({ ok: !error, stdout: String(stdout ?? ''), error: error ? (error.message.split('\n')[0] ?? String(error)) : undefined });
        });
      } catch (error) {
        resolve({ ok: false, stdout: '', error: (error as Error).message });
      }
    });
  }

  private disableMissing(): void {
    if (this.disabled) return;
    this.disabled = true;
    this.stopWatchdog();
    this.logger.debug({ binary: this.binary }, 'NOTIFY_SOCKET is set but systemd-notify is not installed: not telling systemd about readiness or status');
  }
}
