import { type ChildProcess, spawn } from 'node:child_process';
import { closedPort } from './system-probes';

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * A throwaway `redis-server` of the test's own (never the machine's shared 6379: pub/sub ignores
 * database numbers, so tests would hear each other). No persistence: a restart starts empty,
 * as after a crash of a cache-only Redis.
 */
export class TestRedisServer {
  private child: ChildProcess | undefined;
  private output: string[] = [];

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts a server on a free port; resolves once it accepts connections. */
  static async start(): Promise<TestRedisServer> {
    const server = new TestRedisServer(await closedPort());
    await server.restart();
    return server;
  }

  /** Starts it again on the same port (after `stop`). */
  async restart(timeoutMs = 15_000): Promise<void> {
    if (this.child) throw new Error('redis-server is already running');
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    running.add(child);
    this.output = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`redis-server on port ${this.port} not ready within ${timeoutMs} ms`)), timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(new Error(`${err.message}\n${this.output.join('')}`));
      };
      const onData = (text: Buffer) => {
        this.output.push(text.toString());
        if (/Ready to accept connections/.test(this.output.join(''))) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('error', fail);
      child.once('exit', (code, signal) => fail(new Error(`redis-server exited (code ${code}, signal ${signal})`)));
    });
  }

  /** SIGKILL (a crash: nothing saved) and wait until it is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
    running.delete(child);
  }
}
