import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closedPort, waitUntil } from '@st/testing';
import { ADMIN, type Env, type Run, stctl } from './cli-spec-support';
import { FakeControlPlane } from './fake-control-plane';
import { CLI_VERSION } from './version';

describe('stctl without a server', () => {
  it('shows help and the version with no configuration at all', async () => {
    const help = await stctl(['--help'], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: stctl');
    for (const group of ['users', 'sessions', 'tunnels', 'providers']) expect(help.stdout).toContain(group);
    expect(help.stdout).toContain('ST_API_KEY');

    for (const group of ['users', 'sessions', 'tunnels', 'providers']) {
      const groupHelp = await stctl([group, '--help'], {});
      expect(groupHelp.code, group).toBe(0);
      expect(groupHelp.stdout).toContain(`Usage: stctl ${group}`);
      expect(groupHelp.stdout).toContain('--json');
    }
    const leaf = await stctl(['tunnels', 'create', '--help'], {});
    expect(leaf.stdout).toContain('--upstream-key-file <file>');

    const version = await stctl(['--version'], {});
    expect(version).toEqual({ code: 0, stdout: `${CLI_VERSION}\n`, stderr: '' });
  });

  it('has the version of apps/cli/package.json', () => {
    const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../../apps/cli/package.json'), 'utf8')) as { version: string };
    expect(CLI_VERSION).toBe(pkg.version);
  });

  it('exits 2 on a wrong command line, with the reason on stderr', async () => {
    const none = await stctl([], {});
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: stctl');

    const typo = await stctl(['sesions', 'list'], { ST_API_KEY: 'k' });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/unknown command 'sesions'[\s\S]*Did you mean sessions\?/);

    const missing = await stctl(['sessions', 'start'], { ST_API_KEY: 'k' });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--name <name>'");

    const port = await stctl(['tunnels', 'create', '--session', 's-1', '--port', '70000'], { ST_API_KEY: 'k' });
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('from 1 to 65535');

    const tls = await stctl(['sessions', 'list', '--server', 'https://cp.example:443'], { ST_API_KEY: 'k' });
    expect(tls.code).toBe(2);
    expect(tls.stderr).toContain('plaintext');
    expect(tls.stdout).toBe('');
  });

  it('exits 3 without credentials, before dialling anything', async () => {
    const user = await stctl(['sessions', 'list', '--json'], { ST_SERVER: '127.0.0.1:1' });
    expect(user.code).toBe(3);
    expect(user.stderr).toContain('set ST_API_KEY');
    expect(user.stdout).toBe('');

    const admin = await stctl(['users', 'list'], { ST_SERVER: '127.0.0.1:1', ST_API_KEY: 'a user key is not the admin token' });
    expect(admin.code).toBe(3);
    expect(admin.stderr).toContain('set ST_ADMIN_TOKEN');
  });

  it('exits 5 when nothing listens at ST_SERVER or --server', async () => {
    const port = await closedPort();
    const viaEnv = await stctl(['sessions', 'list', '--json'], { ST_SERVER: `127.0.0.1:${port}`, ST_API_KEY: 'k' });
    expect(viaEnv.code).toBe(5);
    expect(viaEnv.stderr).toBe(`error: cannot reach the control plane at 127.0.0.1:${port}: is st-server running? (ST_SERVER)\n`);
    expect(viaEnv.stdout).toBe('');

    const viaFlag = await stctl(['--server', `http://127.0.0.1:${port}`, 'providers', 'watch', '--json'], { ST_API_KEY: 'k' });
    expect(viaFlag.code).toBe(5);
    expect(viaFlag.stderr).toContain(`cannot reach the control plane at 127.0.0.1:${port}`);
  });
});

describe('providers watch when the control plane goes away', () => {
  async function watchedPlane(): Promise<{ plane: FakeControlPlane; env: Env; sink: { stdout: string }; watching: Promise<Run> }> {
    const plane = new FakeControlPlane(ADMIN);
    await plane.listen();
    const { apiKey } = plane.addUser('dora');
    const env = { ST_SERVER: plane.address, ST_API_KEY: apiKey };
    const sink = { stdout: '' };
    const watching = stctl(['providers', 'watch', '--json'], env, new AbortController().signal, sink);
    await waitUntil('the synced marker', () => sink.stdout.includes('"synced"'));
    return { plane, env, sink, watching };
  }

  it('exits 5 with a message when the server drops the connection', async () => {
    const { plane, watching } = await watchedPlane();
    plane.kill();
    const run = await watching;
    expect(run.code).toBe(5);
    expect(run.stderr).toBe(`error: lost the control plane at ${plane.address}: is st-server running? (ST_SERVER)\n`);
  });

  it('exits 5 when the server ends the stream', async () => {
    const { plane, watching } = await watchedPlane();
    plane.endWatches();
    const run = await watching;
    expect(run.code).toBe(5);
    expect(run.stderr).toContain('ended the watch');
    plane.kill();
  });
});
