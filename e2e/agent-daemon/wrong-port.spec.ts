import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoCredentials, type Server, builtApp, cleanupAll, demoInit, spawnProcess, startAgent, startServer } from '@st/testing';
import { waitForEntries } from './resilience-support';

// Issue 7: an agent pointed at the gateway's HTTP port (ST_HTTP_PORT instead of ST_GRPC_PORT)
// was told to try https://. grpc-js only says "Protocol error"; the agent must say what it hit.

let server: Server;
let demo: DemoCredentials;
let wrongUrl: string;

const HINT = /this looks like the gateway's HTTP port \(ST_HTTP_PORT\); the broker listens on ST_GRPC_PORT/;

beforeAll(async () => {
  server = await startServer();
  demo = await demoInit(server.dataDir);
  wrongUrl = `http://127.0.0.1:${server.httpPort}`;
});

afterAll(cleanupAll);

describe('an agent dialling an HTTP/1.1 port instead of the broker', () => {
  it("says in its log (and STATUS) that this looks like the gateway's HTTP port", async () => {
    const agent = await startAgent({ ST_BROKER_URL: wrongUrl, ST_TUNNEL_TOKEN: demo.agentToken }, { waitForConnected: false });
    const [retry] = await waitForEntries(agent, /^cannot connect to the broker; retrying with backoff$/, 1, 30_000);
    expect(String(retry.hint)).toMatch(HINT);
    expect(String(retry.hint)).not.toMatch(/https:\/\//);
    await agent.stop();
  });

  it('says so in `st-agent check`', async () => {
    const proc = spawnProcess({
      name: 'st-agent check',
      script: builtApp('agent'),
      args: ['check'],
      env: { ST_BROKER_URL: wrongUrl, ST_TUNNEL_TOKEN: demo.agentToken, ST_UPSTREAM_URL: server.publicUrl },
    });
    const exit = await proc.exited;
    const lines = proc.lines.map((l) => l.text);
    expect(lines[1]).toMatch(/^✗ broker: cannot reach /);
    expect(lines[1]).toMatch(HINT);
    expect(exit.code).toBe(1);
  });
});
