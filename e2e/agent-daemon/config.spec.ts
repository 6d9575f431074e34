import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AGENT_CONNECTED, type ProcessEnv, builtApp, cleanupAll, demoInit, makeTempDir, spawnProcess, startMockModel, startServer } from '@st/testing';

afterAll(cleanupAll);


function agent(args: string[], env: ProcessEnv = {}) {
  return spawnProcess({ name: 'st-agent', script: builtApp('agent'), args, env });
}

/** Runs st-agent to its end: exit code and stderr. */
async function run(args: string[], env: ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = agent(args, env);
  const exit = await proc.exited;
  const text = (stream: string) => proc.lines.filter((l) => l.stream === stream).map((l) => l.text).join('\n');
  return { code: exit.code, stdout: text('stdout'), stderr: text('stderr') };
}

describe('st-agent configuration', () => {
  it('serves from a config file and a token file; the token never shows in its command line or environment', async () => {
    const [mock, server] = await Promise.all([startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0 }), startServer()]);
    const demo = await demoInit(server.dataDir);
    const dir = makeTempDir('st-config-');
    writeFileSync(join(dir, 'agent.token'), `${demo.agentToken}\n`, { mode: 0o600 });
    const config = join(dir, 'agent.yaml');
    writeFileSync(config, `# st-agent\nbrokerUrl: http://127.0.0.1:${server.grpcPort}\ntokenFile: agent.token\nupstreamUrl: ${mock.url}\ncaFile:\n`);
    const proc = agent(['--config', config]);
    await proc.waitForLine(AGENT_CONNECTED);
    const started = proc.lines.find((l) => l.text.includes('st-agent starting'))!.text;
    expect(JSON.parse(started)).toMatchObject({ configFile: config, tokenSource: `the file ${join(dir, 'agent.token')}` });
    for (const file of ['cmdline', 'environ']) {
      expect(readFileSync(`/proc/${proc.pid}/${file}`, 'utf8')).not.toContain(demo.agentToken);
    }
    expect(proc.lines.some((l) => l.text.includes(demo.agentToken))).toBe(false);
    expect((await proc.stop()).code).toBe(0);
  });

  it('exits 2 naming the file and the fix for a missing --config file, an unknown key and bad YAML', async () => {
    const dir = makeTempDir('st-config-');
    const missing = join(dir, 'nope.yaml');
    let r = await run(['--config', missing]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`st-agent: config file ${missing}: cannot read it (ENOENT): create it, or give the right path with --config / ST_AGENT_CONFIG`);

    const typo = join(dir, 'typo.yaml');
    writeFileSync(typo, 'brokerURL: http://127.0.0.1:1\n');
    r = await run([], { ST_AGENT_CONFIG: typo, ST_TUNNEL_TOKEN: 't' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown setting\(s\) brokerURL \(did you mean brokerUrl\?\); the settings are brokerUrl, tokenFile, /);

    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'brokerUrl: "http://127.0.0.1:1\n');
    r = await run(['--config', broken, '--token', 't']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^st-agent: config file ${broken} is not valid YAML: .*line \\d+, column \\d+$`));
  });

  it('names the setting where a bad value was given', async () => {
    const r = await run(['--broker-url', 'http://127.0.0.1:1', '--token', 't', '--drain-grace-ms', 'soon']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('st-agent: invalid configuration:\n  ST_DRAIN_GRACE_MS / --drain-grace-ms: expected a positive number of milliseconds, e.g. 30000 (got "soon")');
  });

  it('answers --version and --help without any configuration', async () => {
    const dir = makeTempDir('st-config-');
    const version = await run(['--version', '--config', join(dir, 'nope.yaml')]);
    expect(version).toMatchObject({ code: 0, stdout: expect.stringMatching(/^st-agent \d+\.\d+\.\d+$/) });
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/st-agent check \[options\]/);
    expect(help.stdout).toMatch(/--config\s+ST_AGENT_CONFIG\s+YAML file of settings/);
  });
});
