import { builtApp } from './built-apps';
import { type ManagedProcess, type ProcessEnv, spawnProcess } from './managed-process';

/** One finished stctl run. */
export interface StctlRun {
  args: string[];
  code: number | null;
  stdout: string;
  stderr: string;
}

function outputOf(proc: ManagedProcess, stream: 'stdout' | 'stderr'): string {
  return proc.lines
    .filter((l) => l.stream === stream)
    .map((l) => `${l.text}\n`)
    .join('');
}

/**
 * Runs the real stctl (apps/cli's launcher) to completion against `server` (host:port). Only
 * `env` configures it: the runner's own ST_* never leak in.
 */
export async function runStctl(server: string, args: string[], env: ProcessEnv = {}): Promise<StctlRun> {
  const proc = spawnProcess({ name: `stctl ${args.join(' ')}`, script: builtApp('cli'), args, env: { ST_SERVER: server, ...env } });
  const exit = await proc.exited;
  return { args, code: exit.code, stdout: outputOf(proc, 'stdout'), stderr: outputOf(proc, 'stderr') };
}

/** `stctl … --json` that must exit 0 and print one JSON object; fails with its output otherwise. */
export async function stctlJson<T = Record<string, unknown>>(server: string, args: string[], env: ProcessEnv = {}): Promise<T> {
  const run = await runStctl(server, [...args, '--json'], env);
  const lines = run.stdout.trimEnd().split('\n');
  if (run.code !== 0 || lines.length !== 1) {
    throw new Error(`stctl ${args.join(' ')} --json exited ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  }
  return JSON.parse(lines[0]) as T;
}
