import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, cleanupAll, spawnProcess, startServer, type ManagedProcess, type ProcessEnv, type Server } from '@st/testing';

/**
 * stctl as a new user meets it: the built launcher (apps/cli/bin/stctl.js) in its own process,
 * against a real st-server, configured only through ST_SERVER / ST_ADMIN_TOKEN / ST_API_KEY.
 */

const STCTL = join(REPO_ROOT, 'apps', 'cli', 'bin', 'stctl.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function builtStctl(): string {
  if (!existsSync(join(REPO_ROOT, 'apps', 'cli', 'dist', 'main.js'))) {
    throw new Error('apps/cli/dist/main.js is missing: run npm run build first (end-to-end tests run the built apps)');
  }
  return STCTL;
}

function outputOf(proc: ManagedProcess, stream: 'stdout' | 'stderr'): string {
  return proc.lines
    .filter((l) => l.stream === stream)
    .map((l) => `${l.text}\n`)
    .join('');
}

describe('stctl against a real st-server', () => {
  const adminToken = `admin-${randomBytes(16).toString('hex')}`;
  let server: Server;
  let address: string;

  /** Runs stctl to completion. The runner's own ST_* variables never leak in (see childEnv). */
  async function stctl(args: string[], env: ProcessEnv): Promise<Run> {
    const proc = spawnProcess({ name: `stctl ${args.join(' ')}`, script: builtStctl(), args, env: { ST_SERVER: address, ...env } });
    const exit = await proc.exited;
    return { code: exit.code, stdout: outputOf(proc, 'stdout'), stderr: outputOf(proc, 'stderr') };
  }

  /** `stctl … --json` that must succeed and print exactly one JSON object. */
  async function json(args: string[], env: ProcessEnv): Promise<Record<string, unknown>> {
    const run = await stctl([...args, '--json'], env);
    expect(run.code, `stctl ${args.join(' ')} --json\nstderr: ${run.stderr}`).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines, `stdout of stctl ${args.join(' ')}`).toHaveLength(1);
    return JSON.parse(lines[0]) as Record<string, unknown>;
  }

  beforeAll(async () => {
    builtStctl();
    server = await startServer({ ST_ADMIN_TOKEN: adminToken, ST_SHUTDOWN_GRACE_MS: 500 });
    address = `127.0.0.1:${server.grpcPort}`;
  });

  afterAll(cleanupAll);

  const admin = () => ({ ST_ADMIN_TOKEN: adminToken });

  it('help and version need no configuration', async () => {
    const help = await stctl(['--help'], { ST_SERVER: undefined });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: stctl');
    const version = await stctl(['--version'], {});
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('admin creates a user, the user runs a session with an OpenAI tunnel, stopping the session stops the provider; other users get not found', async () => {
    // The admin creates two users; each gets an API key once.
    const alice = await json(['users', 'create', `alice-${randomBytes(3).toString('hex')}`], admin());
    expect(alice).toMatchObject({ id: expect.any(String), name: expect.stringMatching(/^alice-/), apiKey: expect.any(String) });
    const bob = await json(['users', 'create', `bob-${randomBytes(3).toString('hex')}`], admin());
    const asAlice = { ST_API_KEY: alice.apiKey as string };
    const asBob = { ST_API_KEY: bob.apiKey as string };

    const users = (await json(['users', 'list'], admin())).users as Record<string, unknown>[];
    expect(users.map((u) => u.id)).toEqual(expect.arrayContaining([alice.id, bob.id]));

    // The user key is not the admin token, and a wrong admin token is refused.
    expect((await stctl(['users', 'list', '--json'], asAlice)).code).toBe(3);
    const wrongAdmin = await stctl(['users', 'list', '--json'], { ST_ADMIN_TOKEN: 'not-the-admin-token' });
    expect(wrongAdmin.code).toBe(3);
    expect(wrongAdmin.stdout).toBe('');
    expect(wrongAdmin.stderr).toContain('ST_ADMIN_TOKEN');

    // The user starts a session and creates an OpenAI tunnel in it.
    const session = await json(['sessions', 'start', '--name', 'dev'], asAlice);
    expect(session).toMatchObject({ id: expect.any(String), name: 'dev', status: 'running' });
    const tunnel = await json(['tunnels', 'create', '--session', session.id as string, '--port', '8000', '--openai'], asAlice);
    expect(tunnel).toMatchObject({ id: expect.any(String), sessionId: session.id, openai: true, status: 'waiting', agentToken: expect.any(String) });
    expect((tunnel.agentToken as string).length).toBeGreaterThan(16);

    // No agent yet: the provider is there, waiting.
    const providers = (await json(['providers', 'list'], asAlice)).providers as Record<string, unknown>[];
    expect(providers).toEqual([
      expect.objectContaining({ id: tunnel.id, name: tunnel.name, type: 'openai-tunnel', status: 'waiting', sessionId: session.id, lastHealthCheck: null }),
    ]);
    expect(providers[0].baseUrl).toMatch(new RegExp(`/t/${tunnel.id as string}/v1$`));

    // A watch sees the change the session stop makes, and ends with exit 0 on SIGINT.
    const watch = spawnProcess({ name: 'stctl providers watch', script: builtStctl(), args: ['providers', 'watch', '--json'], env: { ST_SERVER: address, ...asAlice } });
    await watch.waitForLine(/"change":"synced"/);

    // Stopping the session stops the tunnel and its provider.
    const stopped = await json(['sessions', 'stop', session.id as string], asAlice);
    expect(stopped).toMatchObject({ id: session.id, status: 'stopped' });
    expect(await json(['sessions', 'get', session.id as string], asAlice)).toMatchObject({ status: 'stopped' });
    expect(await json(['tunnels', 'get', tunnel.id as string], asAlice)).toMatchObject({ id: tunnel.id, status: 'stopped' });
    const afterStop = (await json(['providers', 'list'], asAlice)).providers as Record<string, unknown>[];
    expect(afterStop).toEqual([expect.objectContaining({ id: tunnel.id, status: 'stopped' })]);

    const [line] = await watch.waitForLine(/^\{"change":"updated".*"status":"stopped".*\}$/);
    expect(JSON.parse(line)).toMatchObject({ change: 'updated', provider: { id: tunnel.id, status: 'stopped' } });
    const watchExit = await watch.stop('SIGINT', 5_000);
    expect(watchExit, watch.describe()).toMatchObject({ code: 0, signal: null });
    expect(outputOf(watch, 'stderr')).toBe('');

    // Someone else's ids do not exist for another user: exit 4 each, nothing on stdout.
    const attempts = [
      ['sessions', 'get', session.id as string],
      ['sessions', 'stop', session.id as string],
      ['tunnels', 'get', tunnel.id as string],
      ['tunnels', 'stop', tunnel.id as string],
      ['tunnels', 'delete', tunnel.id as string],
    ];
    for (const args of attempts) {
      const run = await stctl([...args, '--json'], asBob);
      expect(run.code, `stctl ${args.join(' ')} as another user\nstderr: ${run.stderr}`).toBe(4);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/^error: .+/);
    }
    expect((await json(['sessions', 'list'], asBob)).sessions).toEqual([]);
    expect((await json(['providers', 'list'], asBob)).providers).toEqual([]);

    // Still there for its owner; and deleting it works.
    expect(await json(['tunnels', 'get', tunnel.id as string], asAlice)).toMatchObject({ id: tunnel.id });
    expect(await json(['tunnels', 'delete', tunnel.id as string], asAlice)).toEqual({ deleted: tunnel.id });
    expect((await stctl(['tunnels', 'get', tunnel.id as string, '--json'], asAlice)).code).toBe(4);
    // About 25 stctl processes, one after the other: more than the default 30 s on a busy runner.
  }, 90_000);

  it("a tunnel's base URL is the one its provider and callers use (the gateway's bound URL)", async () => {
    const user = await json(['users', 'create', `erin-${randomBytes(3).toString('hex')}`], admin());
    const asErin = { ST_API_KEY: user.apiKey as string };
    const session = await json(['sessions', 'start', '--name', 'urls'], asErin);
    const created = await json(['tunnels', 'create', '--session', session.id as string, '--openai'], asErin);
    const expected = `${server.publicUrl}/t/${created.id as string}/v1`;
    const [provider] = (await json(['providers', 'list'], asErin)).providers as Record<string, unknown>[];
    expect(provider.baseUrl).toBe(expected);
    expect(created.baseUrl).toBe(expected);
    expect((await json(['tunnels', 'get', created.id as string], asErin)).baseUrl).toBe(expected);
  });

  it('prints tables for people', async () => {
    const user = await json(['users', 'create', `carol-${randomBytes(3).toString('hex')}`], admin());
    const asCarol = { ST_API_KEY: user.apiKey as string };
    await json(['sessions', 'start', '--name', 'notebook'], asCarol);
    const run = await stctl(['sessions', 'list'], asCarol);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^ID\s+NAME\s+STATUS\s+CREATED\s+UPDATED\n\S+\s+notebook\s+running\s/);
  });

  it('exits 5 with a hint when the control plane is not there', async () => {
    const run = await stctl(['sessions', 'list', '--json'], { ST_SERVER: '127.0.0.1:1', ST_API_KEY: 'st_key_whatever' });
    expect(run.code).toBe(5);
    expect(run.stderr).toBe('error: cannot reach the control plane at 127.0.0.1:1: is st-server running? (ST_SERVER)\n');
  });
});
