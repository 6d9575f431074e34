import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli-program';
import { FakeControlPlane } from './fake-control-plane';
import { parseSince } from './usage-commands';

const ADMIN = 'admin-token-for-usage-spec';

async function stctl(args: string[], env: Record<string, string>) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env });
  return { code, stdout, stderr };
}

describe('stctl usage', () => {
  const fake = new FakeControlPlane(ADMIN);
  let alice: { user: { id: string }; apiKey: string };
  let bob: { user: { id: string }; apiKey: string };

  beforeAll(async () => {
    await fake.listen();
    alice = fake.addUser('alice');
    bob = fake.addUser('bob');
    fake.usageRows.push(
      { userId: alice.user.id, tunnelId: 't-a', tunnelName: 'gpu', model: 'llama', promptTokens: 30, completionTokens: 12, requests: 3 },
      { userId: bob.user.id, tunnelId: 't-b', tunnelName: 'bobs', model: 'qwen', promptTokens: 5, completionTokens: 1, requests: 1 },
    );
  });

  afterAll(() => fake.kill());

  it('prints the caller\'s own usage as {"usage":[…]} with the API key, sending since and the grouping', async () => {
    const run = await stctl(['usage', '--since', '24h', '--by', 'tunnel', '--json'], { ST_SERVER: fake.address, ST_API_KEY: alice.apiKey });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      usage: [{ tunnel: 'gpu', tunnelId: 't-a', model: null, promptTokens: 30, completionTokens: 12, requests: 3 }],
    });
    const call = fake.callsOf('GetUsage').at(-1)!;
    expect(call.bearer).toBe(alice.apiKey);
    const request = call.request as { since: Date; groupBy: number; allUsers: boolean };
    expect(request.groupBy).toBe(1);
    expect(request.allUsers).toBe(false);
    expect(Math.abs(Date.now() - 24 * 3_600_000 - request.since.getTime())).toBeLessThan(60_000);
  });

  it('with --all-users sends the admin token and prints every user', async () => {
    const run = await stctl(['usage', '--all-users', '--json'], { ST_SERVER: fake.address, ST_ADMIN_TOKEN: ADMIN, ST_API_KEY: alice.apiKey });
    expect(run.code).toBe(0);
    const rows = (JSON.parse(run.stdout) as { usage: { userId: string }[] }).usage;
    expect(rows.map((r) => r.userId)).toEqual([alice.user.id, bob.user.id]);
    expect(fake.callsOf('GetUsage').at(-1)!.bearer).toBe(ADMIN);
  });

  it('refuses --all-users with a user key (exit 3, the server message) and a bad --since (exit 2)', async () => {
    const denied = await stctl(['usage', '--all-users'], { ST_SERVER: fake.address, ST_ADMIN_TOKEN: alice.apiKey });
    expect(denied.code).toBe(3);
    expect(denied.stderr).toMatch(/admin/);
    const bad = await stctl(['usage', '--since', 'yesterday'], { ST_SERVER: fake.address, ST_API_KEY: alice.apiKey });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/ISO 8601/);
  });

  it('prints a table with a total line without --json', async () => {
    const run = await stctl(['usage'], { ST_SERVER: fake.address, ST_API_KEY: alice.apiKey });
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0].split(/\s+/)).toEqual(['TUNNEL', 'MODEL', 'PROMPT', 'COMPLETION', 'REQUESTS']);
    expect(lines[1]).toMatch(/^gpu \(t-a\)\s+llama\s+30\s+12\s+3$/);
    expect(lines[2]).toMatch(/^total\s+30\s+12\s+3$/);
  });

  it('reads --since as an ISO date or time, or a span back from now', () => {
    const now = Date.parse('2026-05-10T12:00:00Z');
    expect(parseSince('7d', now).toISOString()).toBe('2026-05-03T12:00:00.000Z');
    expect(parseSince('90m', now).toISOString()).toBe('2026-05-10T10:30:00.000Z');
    expect(parseSince('2026-05-01', now).toISOString()).toBe('2026-05-01T00:00:00.000Z');
    expect(parseSince('2026-05-01T08:30:00+02:00', now).toISOString()).toBe('2026-05-01T06:30:00.000Z');
    expect(() => parseSince('7 days', now)).toThrow(/ISO 8601/);
  });
});
