import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '@st/testing';
import { ADMIN, type Env, PROVIDER_KEYS, TUNNEL_KEYS, oneObject, stctl } from './cli-spec-support';
import { runCli } from './cli-program';
import { FakeControlPlane } from './fake-control-plane';

describe('stctl against an in-process control plane', () => {
  const fake = new FakeControlPlane(ADMIN);
  const dir = mkdtempSync(join(tmpdir(), 'stctl-spec-'));
  let admin: Env;
  let alice: Env;
  let bob: Env;
  let aliceId: string;

  beforeAll(async () => {
    await fake.listen();
    admin = { ST_SERVER: fake.address, ST_ADMIN_TOKEN: ADMIN };
  });

  afterAll(() => {
    fake.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('users: the admin creates users, lists them, mints and revokes keys', async () => {
    const created = oneObject(await stctl(['users', 'create', 'alice', '--json'], admin));
    expect(Object.keys(created)).toEqual(['id', 'name', 'createTime', 'apiKey']);
    expect(created).toMatchObject({ name: 'alice', apiKey: expect.stringMatching(/^st_key_/), id: expect.stringMatching(/^u-/) });
    expect(new Date(created.createTime as string).toISOString()).toBe(created.createTime);
    const call = fake.callsOf('CreateUser')[0];
    expect(call).toEqual({ method: 'CreateUser', request: { name: 'alice' }, bearer: ADMIN });
    aliceId = created.id as string;
    alice = { ST_SERVER: fake.address, ST_API_KEY: created.apiKey as string };

    const bobCreated = oneObject(await stctl(['users', 'create', 'bob', '--json'], admin));
    bob = { ST_SERVER: fake.address, ST_API_KEY: bobCreated.apiKey as string };

    const listed = oneObject(await stctl(['users', 'list', '--json'], admin));
    expect(listed).toEqual({ users: [{ id: aliceId, name: 'alice', createTime: created.createTime }, expect.objectContaining({ name: 'bob' })] });

    const key = oneObject(await stctl(['users', 'create-key', aliceId, '--json'], admin));
    expect(Object.keys(key)).toEqual(['apiKey']);
    expect(fake.callsOf('CreateApiKey').at(-1)?.request).toEqual({ userId: aliceId });

    // A throwaway user: revoking alice's keys would lock her out of the rest of this file.
    const carol = oneObject(await stctl(['users', 'create', 'carol', '--json'], admin));
    oneObject(await stctl(['users', 'create-key', carol.id as string, '--json'], admin));
    expect(oneObject(await stctl(['users', 'revoke-keys', carol.id as string, '--json'], admin))).toEqual({ revoked: 2 });
    const locked = await stctl(['sessions', 'list'], { ST_SERVER: fake.address, ST_API_KEY: carol.apiKey as string });
    expect(locked.code).toBe(3);
    expect(locked.stderr).toBe('error: the API key is missing, unknown or revoked (this command sends ST_API_KEY, your API key (st_key_…); set ST_API_KEY / ST_ADMIN_TOKEN)\n');
  });

  it('users: refusals map to exit codes with the server message', async () => {
    const dup = await stctl(['users', 'create', 'alice', '--json'], admin);
    expect(dup).toEqual({ code: 1, stdout: '', stderr: 'error: user "alice" already exists\n' });

    const unknown = await stctl(['users', 'create-key', 'u-nope', '--json'], admin);
    expect(unknown).toEqual({ code: 4, stdout: '', stderr: 'error: user u-nope not found\n' });

    const wrongToken = await stctl(['users', 'list', '--json'], { ...admin, ST_ADMIN_TOKEN: 'wrong' });
    expect(wrongToken.code).toBe(3);
    expect(wrongToken.stderr).toMatch(/^error: the admin token is missing or wrong \(this command sends ST_ADMIN_TOKEN, the admin token; set ST_API_KEY \/ ST_ADMIN_TOKEN\)\n$/);
    expect(fake.callsOf('ListUsers').at(-1)?.bearer).toBe('wrong');
  });

  let sessionId: string;
  let tunnelId: string;

  it('sessions: start, get, stop, restart and list with the API key as bearer', async () => {
    const started = oneObject(await stctl(['sessions', 'start', '--name', 'dev', '--json'], alice));
    expect(Object.keys(started)).toEqual(['id', 'name', 'status', 'createTime', 'updateTime']);
    expect(started).toMatchObject({ name: 'dev', status: 'running' });
    expect(fake.callsOf('StartSession').at(-1)).toEqual({ method: 'StartSession', request: { name: 'dev' }, bearer: alice.ST_API_KEY });
    sessionId = started.id as string;

    expect(oneObject(await stctl(['sessions', 'get', sessionId, '--json'], alice))).toEqual(started);
    expect(fake.callsOf('GetSession').at(-1)?.request).toEqual({ id: sessionId });

    const stopped = oneObject(await stctl(['sessions', 'stop', sessionId, '--json'], alice));
    expect(stopped).toMatchObject({ id: sessionId, status: 'stopped' });
    const { restartedTunnels, ...restarted } = oneObject(await stctl(['--json', 'sessions', 'restart', sessionId], alice));
    expect(restarted).toMatchObject({ id: sessionId, status: 'running' });
    expect(restartedTunnels).toEqual([]);
    expect(fake.callsOf('RestartSession').at(-1)?.request).toEqual({ id: sessionId });

    const listed = oneObject(await stctl(['sessions', 'list', '--json'], alice));
    expect(listed).toEqual({ sessions: [restarted] });
    expect(oneObject(await stctl(['sessions', 'list', '--json'], bob))).toEqual({ sessions: [] });
  });

  it('tunnels: create sends every flag as a request field; the upstream key comes only from the file', async () => {
    const keyFile = join(dir, 'upstream.key');
    writeFileSync(keyFile, '  sk-upstream-secret \n');
    const args = ['tunnels', 'create', '--session', sessionId, '--port', '8080', '--host', '127.0.0.1', '--name', 'llm', '--openai'];
    const run = await stctl([...args, '--upstream-key-file', keyFile, '--json'], alice);
    const created = oneObject(run);
    expect(Object.keys(created)).toEqual([...TUNNEL_KEYS, 'agentToken']);
    expect(created).toMatchObject({
      name: 'llm',
      sessionId,
      sessionName: 'dev',
      remoteHost: '127.0.0.1',
      remotePort: 8080,
      openai: true,
      status: 'waiting',
      hasUpstreamApiKey: true,
      healthy: false,
      lastHealthCheck: null,
      models: [],
      agentToken: expect.stringMatching(/^st_agent_/),
    });
    expect(run.stdout).not.toContain('sk-upstream-secret');
    expect(fake.callsOf('CreateTunnel').at(-1)).toEqual({
      method: 'CreateTunnel',
      request: { sessionId, name: 'llm', remotePort: 8080, remoteHost: '127.0.0.1', openai: true, upstreamApiKey: 'sk-upstream-secret' },
      bearer: alice.ST_API_KEY,
    });
    tunnelId = created.id as string;

    const plain = oneObject(await stctl(['tunnels', 'create', '--session', sessionId, '--json'], alice));
    expect(plain).toMatchObject({ name: 'dev-8000', remoteHost: 'localhost', remotePort: 8000, openai: false, hasUpstreamApiKey: false });
    expect(fake.callsOf('CreateTunnel').at(-1)?.request).toEqual({ sessionId, name: '', remotePort: 0, remoteHost: '', openai: false, upstreamApiKey: '' });

    const empty = join(dir, 'empty.key');
    writeFileSync(empty, '\n');
    const refused = await stctl(['tunnels', 'create', '--session', sessionId, '--upstream-key-file', empty, '--json'], alice);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('is empty');
    const missing = await stctl(['tunnels', 'create', '--session', sessionId, '--upstream-key-file', join(dir, 'nope'), '--json'], alice);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read --upstream-key-file');

    const duplicate = await stctl([...args, '--json'], alice);
    expect(duplicate).toEqual({ code: 1, stdout: '', stderr: 'error: a tunnel named "llm" already exists\n' });
  });

  it('tunnels: list, get, stop, start with the tunnel object; providers list the openai ones', async () => {
    const all = oneObject(await stctl(['tunnels', 'list', '--json'], alice)).tunnels as Record<string, unknown>[];
    expect(all.map((t) => t.name)).toEqual(['llm', 'dev-8000']);
    for (const t of all) expect(Object.keys(t)).toEqual(TUNNEL_KEYS);
    expect(fake.callsOf('ListTunnels').at(-1)?.request).toEqual({ sessionId: '' });

    oneObject(await stctl(['tunnels', 'list', '--session', sessionId, '--json'], alice));
    expect(fake.callsOf('ListTunnels').at(-1)?.request).toEqual({ sessionId });

    const got = oneObject(await stctl(['tunnels', 'get', tunnelId, '--json'], alice));
    expect(got).toEqual(all[0]);

    const providers = oneObject(await stctl(['providers', 'list', '--json'], alice)).providers as Record<string, unknown>[];
    expect(providers).toHaveLength(1);
    expect(Object.keys(providers[0])).toEqual(PROVIDER_KEYS);
    expect(providers[0]).toMatchObject({ id: tunnelId, name: 'llm', type: 'openai-tunnel', status: 'waiting', sessionId, sessionName: 'dev', lastHealthCheck: null });

    expect(oneObject(await stctl(['tunnels', 'stop', tunnelId, '--json'], alice))).toMatchObject({ id: tunnelId, status: 'stopped' });
    expect(oneObject(await stctl(['tunnels', 'start', tunnelId, '--json'], alice))).toMatchObject({ id: tunnelId, status: 'waiting' });

    // Stopping the session stops its tunnels, and the provider shows it.
    oneObject(await stctl(['sessions', 'stop', sessionId, '--json'], alice));
    expect(oneObject(await stctl(['tunnels', 'get', tunnelId, '--json'], alice))).toMatchObject({ status: 'stopped' });
    const after = oneObject(await stctl(['providers', 'list', '--json'], alice)).providers as Record<string, unknown>[];
    expect(after[0]).toMatchObject({ id: tunnelId, status: 'stopped' });
    // Restarting it starts them again and says which.
    const restarted = oneObject(await stctl(['sessions', 'restart', sessionId, '--json'], alice));
    expect(restarted.restartedTunnels).toEqual(all.map((t) => t.id));
    expect(oneObject(await stctl(['tunnels', 'get', tunnelId, '--json'], alice))).toMatchObject({ status: 'waiting' });
    const human = await stctl(['sessions', 'restart', sessionId], alice);
    expect(human.stdout).toMatch(/^Restarted tunnels:\s+-$/m);
  });

  it('tunnels rotate-token prints the new token once, as {"id","agentToken"} with --json', async () => {
    const before = fake.tunnels.get(tunnelId)!.agentToken;
    const rotated = oneObject(await stctl(['tunnels', 'rotate-token', tunnelId, '--json'], alice));
    expect(rotated).toEqual({ id: tunnelId, agentToken: expect.stringMatching(/^st_agent_/) });
    expect(rotated.agentToken).not.toBe(before);
    expect(fake.callsOf('RotateTunnelToken').at(-1)).toEqual({ method: 'RotateTunnelToken', request: { id: tunnelId }, bearer: alice.ST_API_KEY });
    const human = await stctl(['tunnels', 'rotate-token', tunnelId], alice);
    expect(human.stdout).toMatch(/^Agent token:\s+st_agent_\S+$/m);
    expect(human.stdout).toContain('ST_TUNNEL_TOKEN');
  });

  it("another user's ids answer exit 4 with the server's message, exactly like unknown ids", async () => {
    const attempts: string[][] = [
      ['sessions', 'get', sessionId],
      ['sessions', 'stop', sessionId],
      ['sessions', 'restart', sessionId],
      ['tunnels', 'get', tunnelId],
      ['tunnels', 'stop', tunnelId],
      ['tunnels', 'start', tunnelId],
      ['tunnels', 'delete', tunnelId],
      ['tunnels', 'rotate-token', tunnelId],
      ['tunnels', 'create', '--session', sessionId],
    ];
    for (const args of attempts) {
      const run = await stctl([...args, '--json'], bob);
      expect(run.code, args.join(' ')).toBe(4);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/^error: (session|tunnel) [st]-\d+ not found\n$/);
    }
    expect(oneObject(await stctl(['tunnels', 'get', tunnelId, '--json'], alice))).toMatchObject({ id: tunnelId });
    expect(oneObject(await stctl(['providers', 'list', '--json'], bob))).toEqual({ providers: [] });
  });

  it('prints readable tables and summaries without --json', async () => {
    const sessions = await stctl(['sessions', 'list'], alice);
    expect(sessions.code).toBe(0);
    const [header, row] = sessions.stdout.split('\n');
    expect(header).toMatch(/^ID\s+NAME\s+STATUS\s+CREATED\s+UPDATED$/);
    expect(row).toMatch(new RegExp(`^${sessionId}\\s+dev\\s+running\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ`));
    expect(header.indexOf('STATUS')).toBe(row.indexOf('running'));

    const tunnel = await stctl(['tunnels', 'get', tunnelId], alice);
    expect(tunnel.stdout).toMatch(/^ID:\s+t-\d+$/m);
    expect(tunnel.stdout).toMatch(/^Status:\s+waiting$/m);
    expect(tunnel.stdout).toMatch(/^Base URL:\s+http:\/\/gateway\.test\/t\/t-\d+\/v1$/m);

    const none = await stctl(['tunnels', 'list'], bob);
    expect(none.stdout).toBe('No tunnels.\n');

    const created = await stctl(['tunnels', 'create', '--session', sessionId, '--port', '9000'], alice);
    expect(created.stdout).toMatch(/^Agent token:\s+st_agent_t-\d+$/m);
    expect(created.stdout).toContain('ST_TUNNEL_TOKEN');
  });

  it("tunnels get and providers list show the tunnel's live streams: broker, since, healthy, draining", async () => {
    const owned = fake.tunnels.get(tunnelId)!;
    owned.tunnel.connections = [
      { brokerId: 'broker-a', streamId: '3', since: new Date('2025-01-02T03:00:00Z'), healthy: true, draining: false, agentInstanceId: 'agent-1' },
      { brokerId: 'broker-b', streamId: '9', since: new Date('2025-01-02T03:00:02Z'), healthy: true, draining: true, agentInstanceId: 'agent-1' },
    ];
    try {
      const expected = [
        { brokerId: 'broker-a', streamId: '3', since: '2025-01-02T03:00:00.000Z', healthy: true, draining: false, agentInstanceId: 'agent-1' },
        { brokerId: 'broker-b', streamId: '9', since: '2025-01-02T03:00:02.000Z', healthy: true, draining: true, agentInstanceId: 'agent-1' },
      ];
      expect(oneObject(await stctl(['tunnels', 'get', tunnelId, '--json'], alice)).connections).toEqual(expected);
      const [provider] = oneObject(await stctl(['providers', 'list', '--json'], alice)).providers as Record<string, unknown>[];
      expect(provider.connections).toEqual(expected);

      const text = (await stctl(['tunnels', 'get', tunnelId], alice)).stdout;
      expect(text).toMatch(/^Streams:\s+2$/m);
      expect(text).toMatch(/^Stream:\s+broker-a {2}stream 3 {2}since 2025-01-02 03:00:00Z {2}healthy$/m);
      expect(text).toMatch(/^Stream:\s+broker-b {2}stream 9 {2}since 2025-01-02 03:00:02Z {2}healthy {2}draining$/m);
      const [header, row] = (await stctl(['providers', 'list'], alice)).stdout.split('\n');
      expect(row.slice(header.indexOf('STREAMS'))).toMatch(/^2 \(1 draining\)\s/);
    } finally {
      owned.tunnel.connections = [];
    }
  });

  it('providers watch: added per provider, synced, then each change, one JSON object per line; exit 0 when stopped', async () => {
    const stop = new AbortController();
    const sink = { stdout: '' };
    const watching = stctl(['providers', 'watch', '--json'], alice, stop.signal, sink);
    const events = () =>
      sink.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { change: string; provider: Record<string, unknown> | null });
    await waitUntil('the synced marker', () => events().some((e) => e.change === 'synced'));
    expect(events()).toEqual([{ change: 'added', provider: expect.objectContaining({ id: tunnelId, name: 'llm', type: 'openai-tunnel' }) }, { change: 'synced', provider: null }]);
    expect(Object.keys(events()[0].provider!)).toEqual(PROVIDER_KEYS);

    const created = oneObject(await stctl(['tunnels', 'create', '--session', sessionId, '--name', 'second', '--openai', '--json'], alice));
    await stctl(['tunnels', 'stop', created.id as string, '--json'], alice);
    await stctl(['tunnels', 'delete', created.id as string, '--json'], alice);
    await waitUntil('the removed event', () => events().some((e) => e.change === 'removed'));
    expect(events().slice(2).map((e) => [e.change, e.provider?.name, e.provider?.status])).toEqual([
      ['added', 'second', 'waiting'],
      ['updated', 'second', 'stopped'],
      ['removed', 'second', 'stopped'],
    ]);

    stop.abort();
    const run = await watching;
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    await waitUntil('the server to forget the watcher', () => fake.watcherCount === 0);
  });

  it('tunnels delete prints {"deleted": id}, then the id is gone', async () => {
    const created = oneObject(await stctl(['tunnels', 'create', '--session', sessionId, '--name', 'gone', '--json'], alice));
    expect(oneObject(await stctl(['tunnels', 'delete', created.id as string, '--json'], alice))).toEqual({ deleted: created.id });
    expect(fake.callsOf('DeleteTunnel').at(-1)?.request).toEqual({ id: created.id });
    expect((await stctl(['tunnels', 'get', created.id as string, '--json'], alice)).code).toBe(4);
  });

  it('providers watch ends with exit 0 when its output is closed (stctl providers watch | head -1)', async () => {
    const closed = new AbortController();
    let stdout = '';
    let stderr = '';
    const watching = runCli(['providers', 'watch', '--json'], {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env: alice,
      signal: new AbortController().signal,
      outputClosed: closed.signal,
    });
    await waitUntil('the synced marker', () => stdout.includes('"synced"'));
    closed.abort();
    expect(await watching).toBe(0);
    expect(stderr).toBe('');
  });

  it('providers watch with a refused key exits 3', async () => {
    const run = await stctl(['providers', 'watch', '--json'], { ...alice, ST_API_KEY: 'st_key_wrong' }, new AbortController().signal);
    expect(run.code).toBe(3);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('set ST_API_KEY');
  });
});
