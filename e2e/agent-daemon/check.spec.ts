import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DemoCredentials,
  type MockModel,
  type ProcessEnv,
  type Server,
  builtApp,
  cleanupAll,
  closedPort,
  demoInit,
  makeTempDir,
  startAgent,
  startMockModel,
  startServer,
  spawnProcess,
  waitForTunnel,
} from '@st/testing';

let mock: MockModel;
let server: Server;
let demo: DemoCredentials;
let brokerUrl: string;
let dir: string;

/** The runner's proxy variables must not change how the check dials. */

beforeAll(async () => {
  [mock, server] = await Promise.all([startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0 }), startServer()]);
  demo = await demoInit(server.dataDir);
  brokerUrl = `http://127.0.0.1:${server.grpcPort}`;
  dir = makeTempDir('st-check-');
});

afterAll(cleanupAll);

/** Runs `st-agent check` to its end: its exit code and the lines it printed. */
async function check(env: ProcessEnv, args: string[] = []): Promise<{ code: number | null; lines: string[] }> {
  const proc = spawnProcess({ name: 'st-agent check', script: builtApp('agent'), args: ['check', ...args], env });
  const exit = await proc.exited;
  return { code: exit.code, lines: proc.lines.map((l) => l.text) };
}

describe('st-agent check', () => {
  it('passes with a valid token, a reachable broker and a model server, and leaves a running agent alone', async () => {
    const env = { ST_BROKER_URL: brokerUrl, ST_TUNNEL_TOKEN: demo.agentToken, ST_UPSTREAM_URL: mock.url };
    const agent = await startAgent(env);
    const baseURL = `${server.publicUrl}/t/${demo.tunnelId}/v1`;
    await waitForTunnel(baseURL, demo.apiKey);

    const result = await check(env);
    expect(result.lines).toEqual([
      `✓ configuration: broker ${brokerUrl}, token from ST_TUNNEL_TOKEN, upstream ${mock.url} (ST_UPSTREAM_URL)`,
      `✓ broker: ${brokerUrl} accepted the token for tunnel ${demo.tunnelId}`,
      `✓ upstream: ${mock.url} serves 1 model(s): mock-llama-3-8b`,
    ]);
    expect(result.code).toBe(0);
    // The check's own stream never carried traffic and is gone; the agent's still serves.
    await waitForTunnel(baseURL, demo.apiKey, 5_000);
    expect(agent.exit).toBeUndefined();
    await agent.stop();
  });

  it("checks the tunnel's own upstream after Welcome when ST_UPSTREAM_URL is not set, from a config file and a token file", async () => {
    const tokenFile = join(dir, 'agent.token');
    writeFileSync(tokenFile, demo.agentToken, { mode: 0o600 });
    const config = join(dir, 'agent.yaml');
    writeFileSync(config, `brokerUrl: ${brokerUrl}\ntokenFile: agent.token\n`);
    const result = await check({}, ['--config', config]);
    expect(result.lines[0]).toBe(`✓ configuration: broker ${brokerUrl}, token from the file ${tokenFile}, upstream from the tunnel's settings, file ${config}`);
    expect(result.lines[1]).toBe(`✓ broker: ${brokerUrl} accepted the token for tunnel ${demo.tunnelId}`);
    // demo-init's tunnel points at localhost:8000 (usually nothing listens there in tests).
    expect(result.lines[2]).toMatch(
      /^(✓ upstream: http:\/\/localhost:8000 serves |✗ upstream: the model server at http:\/\/localhost:8000 is unreachable \(ECONNREFUSED\): start the model server, or point ST_UPSTREAM_URL \/ upstreamUrl \(or the tunnel's port\) at where it listens$)/,
    );
    expect(result.code).toBe(result.lines[2].startsWith('✓') ? 0 : 1);
  });

  it('names a bad broker URL and exits 2 without dialling', async () => {
    const result = await check({ ST_BROKER_URL: 'grpc://127.0.0.1:50051', ST_TUNNEL_TOKEN: demo.agentToken });
    expect(result.lines).toEqual(['✗ configuration: ST_BROKER_URL / --broker-url: expected an http:// or https:// URL (got "grpc://127.0.0.1:50051")']);
    expect(result.code).toBe(2);
  });

  it('says the broker is unreachable and how to fix it', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const result = await check({ ST_BROKER_URL: url, ST_TUNNEL_TOKEN: demo.agentToken, ST_UPSTREAM_URL: mock.url });
    expect(result.lines[1]).toMatch(
      new RegExp(`^✗ broker: cannot reach ${url} \\(connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+\\): check ST_BROKER_URL / brokerUrl, that st-server runs there and that its gRPC port is reachable from this machine$`),
    );
    // The upstream is still checked: ST_UPSTREAM_URL does not depend on the broker.
    expect(result.lines[2]).toBe(`✓ upstream: ${mock.url} serves 1 model(s): mock-llama-3-8b`);
    expect(result.code).toBe(1);
  });

  it('checks each broker of a list on a line of its own, and fails when one of them cannot be reached', async () => {
    const down = `http://127.0.0.1:${await closedPort()}`;
    const result = await check({ ST_BROKER_URL: `${brokerUrl},${down}`, ST_TUNNEL_TOKEN: demo.agentToken, ST_UPSTREAM_URL: mock.url });
    expect(result.lines[0]).toBe(`✓ configuration: broker ${brokerUrl},${down}, token from ST_TUNNEL_TOKEN, upstream ${mock.url} (ST_UPSTREAM_URL)`);
    expect(result.lines[1]).toBe(`✓ broker: ${brokerUrl} accepted the token for tunnel ${demo.tunnelId}`);
    expect(result.lines[2]).toMatch(new RegExp(`^✗ broker: cannot reach ${down} \\(connect ECONNREFUSED`));
    expect(result.lines[3]).toBe(`✓ upstream: ${mock.url} serves 1 model(s): mock-llama-3-8b`);
    expect(result.code).toBe(1);
  });

  it('says the token was refused and exits 3', async () => {
    const result = await check({ ST_BROKER_URL: brokerUrl, ST_TUNNEL_TOKEN: 'st_agent_not-a-real-token', ST_UPSTREAM_URL: mock.url });
    expect(result.lines[1]).toBe(
      `✗ broker: ${brokerUrl} refused the token: the agent token is not valid: its tunnel was deleted or the token was replaced; create the tunnel again (or rotate its token) and give st-agent the new token`,
    );
    expect(result.code).toBe(3);
  });

  it('says the model server is unreachable', async () => {
    const upstream = `http://127.0.0.1:${await closedPort()}`;
    const result = await check({ ST_BROKER_URL: brokerUrl, ST_TUNNEL_TOKEN: demo.agentToken, ST_UPSTREAM_URL: upstream });
    expect(result.lines[1]).toMatch(/^✓ broker: /);
    expect(result.lines[2]).toBe(
      `✗ upstream: the model server at ${upstream} is unreachable (ECONNREFUSED): start the model server, or point ST_UPSTREAM_URL / upstreamUrl (or the tunnel's port) at where it listens`,
    );
    expect(result.code).toBe(1);
  });
});
