import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { AGENT_CONNECTED, REPO_ROOT, cleanupAll, demoInit, makeTempDir, spawnProcess, startMockModel, startServer, waitForTunnel } from '@st/testing';

const BUNDLE = join(REPO_ROOT, 'apps', 'agent', 'dist', 'st-agent.js');

/**
 * Lazily required by undici for its SQLite cache store, which the agent does not use (and which
 * Node 20 does not have): never loaded.
 */
const LAZY_OPTIONAL = new Set(['node:sqlite']);

afterAll(cleanupAll);

/** A directory with nothing but the bundle, where no node_modules can be found above it. */
function isolatedBundle(): string {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run npm run build first`);
  const dir = makeTempDir('st-agent-bundle-');
  for (let d = dir; d !== dirname(d); d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) throw new Error(`${d}/node_modules exists: the bundle would not be tested alone`);
  }
  copyFileSync(BUNDLE, join(dir, 'st-agent.js'));
  return join(dir, 'st-agent.js');
}

describe('the standalone st-agent bundle', () => {
  it('needs nothing but Node: every module it still requires is built in', () => {
    const text = readFileSync(BUNDLE, 'utf8');
    const required = new Set([...text.matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1]));
    expect([...required].filter((name) => !isBuiltin(name) && !LAZY_OPTIONAL.has(name))).toEqual([]);
    // The server half of @st/grpc-kit (health, reflection) reads .proto files when loaded.
    expect(text).not.toMatch(/health\/v1\/health\.proto|reflection\/v1\/reflection\.proto/);
  });

  it('prints its version when copied alone into an empty directory', async () => {
    const script = isolatedBundle();
    const { stdout } = await promisify(execFile)(process.execPath, [script, '--version'], { cwd: dirname(script), env: { PATH: process.env.PATH } });
    expect(stdout).toMatch(/^st-agent \d+\.\d+\.\d+\n$/);
  });

  it('serves a chat answer through the tunnel, run alone with plain node', async () => {
    const script = isolatedBundle();
    const [mock, server] = await Promise.all([startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0 }), startServer()]);
    const demo = await demoInit(server.dataDir);
    const agent = spawnProcess({
      name: 'st-agent (bundle)',
      script,
      cwd: dirname(script),
      env: {
        NODE_PATH: undefined,
        ST_BROKER_URL: `http://127.0.0.1:${server.grpcPort}`,
        ST_TUNNEL_TOKEN: demo.agentToken,
        ST_UPSTREAM_URL: mock.url,
      },
    });
    await agent.waitForLine(AGENT_CONNECTED);
    const baseURL = `${server.publicUrl}/t/${demo.tunnelId}/v1`;
    await waitForTunnel(baseURL, demo.apiKey);

    const res = await fetch(`${baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${demo.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-llama-3-8b', messages: [{ role: 'user', content: 'hello from a session image' }], max_tokens: 5 }),
    });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    const body = JSON.parse(text) as { choices: { message: { content: string } }[] };
    expect(body.choices[0].message.content.trim().split(/\s+/)).toHaveLength(5);

    const exit = await agent.stop('SIGTERM', 10_000);
    expect(exit.code).toBe(0);
    // Only JSON log lines: no warnings about missing modules or worker transports.
    expect(agent.lines.filter((l) => !l.text.startsWith('{"level":'))).toEqual([]);
  });
});
