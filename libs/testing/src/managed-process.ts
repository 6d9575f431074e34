import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

/** Environment for a child; numbers are stringified, `undefined` removes an inherited variable. */
export type ProcessEnv = Record<string, string | number | undefined>;

export interface SpawnOptions {
  /** Short name for messages ("st-server", "st-agent"). */
  name: string;
  /** Script run with this very Node binary. */
  script: string;
  args?: string[];
  env?: ProcessEnv;
  cwd?: string;
}

/** One line a child wrote, in the order they arrived. */
export interface OutputLine {
  stream: 'stdout' | 'stderr';
  text: string;
}

/** How a child ended (`error` when it could not be started at all). */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** Lines kept per process; a chatty child must not grow the test runner's memory without bound. */
const MAX_LINES = 5000;
/** Lines quoted when a wait fails. */
const TAIL_LINES = 40;

/** Makes each child exit once this process is gone, however it went (see the file). */
const EXIT_WITH_PARENT = join(import.meta.dirname, 'exit-with-parent.cjs');

const running = new Set<ManagedProcess>();

// A worker that exits normally takes its children along even when a spec forgot cleanupAll;
// one killed by a signal skips this, and EXIT_WITH_PARENT covers that.
process.once('exit', () => {
  for (const p of running) p.child.kill('SIGKILL');
});

/**
 * A real child process under test: its output collected line by line, waits that fail with that
 * output quoted, and a stop that always ends in the process being gone.
 */
export class ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly lines: OutputLine[] = [];
  /** Resolves once the process has exited; never rejects. */
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;
  private readonly listeners = new Set<(line: OutputLine) => void>();
  private readonly exitListeners = new Set<() => void>();

  constructor(options: SpawnOptions) {
    this.name = options.name;
    this.child = spawn(process.execPath, ['--require', EXIT_WITH_PARENT, options.script, ...(options.args ?? [])], {
      cwd: options.cwd,
      env: childEnv(options.env ?? {}),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(this);
    this.exited = new Promise<ExitInfo>((resolve) => {
      const settle = (info: ExitInfo) => {
        if (this.exitInfo) return;
        this.exitInfo = info;
        running.delete(this);
        for (const l of this.exitListeners) l();
        resolve(info);
      };
      // 'close', not 'exit': it comes after the pipes are drained, so a line printed just
      // before exiting is collected before anyone is told that the process is gone.
      this.child.once('close', (code, signal) => settle({ code, signal }));
      this.child.once('error', (error) => settle({ code: null, signal: null, error }));
    });
    this.collect('stdout');
    this.collect('stderr');
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} has no pid: it failed to start\n${this.describe()}`);
    return this.child.pid;
  }

  /** Set once the process has exited. */
  get exit(): ExitInfo | undefined {
    return this.exitInfo;
  }

  /**
   * The first line (already written or still to come) matching `pattern`. Fails with the
   * process's output when the process exits first or `timeoutMs` passes.
   */
  waitForLine(pattern: RegExp, options: { timeoutMs?: number; stream?: 'stdout' | 'stderr' | 'any' } = {}): Promise<RegExpMatchArray> {
    const { timeoutMs = 15_000, stream = 'stdout' } = options;
    const match = (line: OutputLine) => (stream === 'any' || line.stream === stream ? pattern.exec(line.text) : null);
    for (const line of this.lines) {
      const m = match(line);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.listeners.delete(onLine);
        this.exitListeners.delete(onExit);
      };
      const onLine = (line: OutputLine) => {
        const m = match(line);
        if (!m) return;
        cleanup();
        resolve(m);
      };
      const onExit = () => {
        cleanup();
        reject(new Error(`${this.name} exited before printing a line matching ${pattern}\n${this.describe()}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name} printed no line matching ${pattern} within ${timeoutMs} ms\n${this.describe()}`));
      }, timeoutMs);
      this.listeners.add(onLine);
      this.exitListeners.add(onExit);
      if (this.exitInfo) onExit();
    });
  }

  /** Sends `signal` (default SIGTERM) and waits for the exit; SIGKILL after `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<ExitInfo> {
    if (this.exitInfo) return this.exitInfo;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), graceMs);
    });
    const outcome = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (outcome !== 'late') return outcome;
    this.child.kill('SIGKILL');
    return this.exited;
  }

  /** SIGKILL, and wait until the process is gone. */
  kill(): Promise<ExitInfo> {
    return this.stop('SIGKILL');
  }

  /** The status and the last lines of output, for failure messages. */
  describe(tail = TAIL_LINES): string {
    const state = this.exitInfo
      ? `exited (code ${this.exitInfo.code}, signal ${this.exitInfo.signal}${this.exitInfo.error ? `, ${this.exitInfo.error.message}` : ''})`
      : 'still running';
    const lines = this.lines.slice(-tail).map((l) => `  ${l.stream === 'stderr' ? '!' : '|'} ${l.text.slice(0, 600)}`);
    return `--- ${this.name} (pid ${this.child.pid ?? '-'}) ${state}; last ${lines.length} lines of output:\n${lines.join('\n')}`;
  }

  private collect(stream: 'stdout' | 'stderr'): void {
    const source = this.child[stream];
    if (!source) return;
    source.setEncoding('utf8');
    let partial = '';
    source.on('data', (text: string) => {
      const parts = (partial + text).split('\n');
      partial = parts.pop() ?? '';
      for (const part of parts) this.push({ stream, text: part });
    });
    source.on('end', () => {
      if (partial) this.push({ stream, text: partial });
    });
  }

  private push(line: OutputLine): void {
    this.lines.push(line);
    if (this.lines.length > MAX_LINES) this.lines.splice(0, this.lines.length - MAX_LINES);
    for (const l of [...this.listeners]) l(line);
  }
}

/** Proxy settings, both spellings: the agent honours them, so a runner's own must not reach it. */
const PROXY_VARIABLES = /^(https?|grpc|no|no_grpc)_proxy$/i;

/**
 * The runner's environment without our own settings (a developer's ST_* and OTEL_* must not leak
 * into the product under test), without proxy variables (a developer's HTTPS_PROXY would reroute the
 * agent) and without NODE_OPTIONS (an inspector flag would make every child fight for the debug
 * port), then `overrides`: a test that wants a proxy sets one there.
 */
function childEnv(overrides: ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('ST_') && !key.startsWith('OTEL_') && key !== 'NODE_OPTIONS' && !PROXY_VARIABLES.test(key)) env[key] = value;
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[key];
    else env[key] = String(value);
  }
  return env;
}

/** Starts a child process that {@link stopAllProcesses} will clean up. */
export function spawnProcess(options: SpawnOptions): ManagedProcess {
  return new ManagedProcess(options);
}

/** Kills every child still running (for afterAll: whatever the tests did, nothing survives them). */
export async function killAllProcesses(): Promise<void> {
  await Promise.all([...running].map((p) => p.kill()));
}
