import { expect } from 'vitest';
import { runCli } from './cli-program';

// What the stctl specs share: running stctl in-process and reading what it printed.

export const ADMIN = 'admin-token-for-tests';
export const TUNNEL_KEYS = [
  'id',
  'name',
  'sessionId',
  'sessionName',
  'remoteHost',
  'remotePort',
  'openai',
  'status',
  'hasUpstreamApiKey',
  'healthy',
  'lastHealthCheck',
  'models',
  'baseUrl',
  'createTime',
  'connections',
];
export const PROVIDER_KEYS = ['id', 'name', 'type', 'status', 'healthy', 'lastHealthCheck', 'models', 'baseUrl', 'sessionId', 'sessionName', 'connections'];

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export type Env = Record<string, string | undefined>;

/** Runs stctl in this process with its own stdout/stderr and environment (nothing inherited). */
export async function stctl(args: string[], env: Env, signal?: AbortSignal, sink?: { stdout: string }): Promise<Run> {
  const out = sink ?? { stdout: '' };
  let stderr = '';
  const code = await runCli(args, {
    stdout: { write: (s: string) => (out.stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
    signal,
  });
  return { code, stdout: out.stdout, stderr };
}

/** The one JSON object a --json run printed; fails unless it succeeded and printed exactly one line. */
export function oneObject(run: Run): Record<string, unknown> {
  expect(run.stderr, 'stderr').toBe('');
  expect(run.code, `exit code; stderr: ${run.stderr}`).toBe(0);
  expect(run.stdout.endsWith('\n')).toBe(true);
  const lines = run.stdout.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  const value = JSON.parse(lines[0]) as unknown;
  expect(typeof value === 'object' && value !== null && !Array.isArray(value)).toBe(true);
  return value as Record<string, unknown>;
}
