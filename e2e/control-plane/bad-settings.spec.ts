import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, cleanupAll, makeTempDir, spawnProcess, type ProcessEnv } from '@st/testing';

// Issue 7: every invalid setting of every process stops it with exit 2 and a message naming the
// setting and what it takes; never zod's raw words or a stack trace (ST_LOG_LEVEL=verbose crashed
// with pino's, ST_HTTP_PORT=abc printed "expected number, received NaN").

afterAll(cleanupAll);

const bin = (app: string, file: string) => join(REPO_ROOT, 'apps', app, 'bin', file);
const RAW = /expected number|received NaN|Invalid input|Too (small|big)|Invalid option|^\s+at |Error:/m;

/** Runs one built app to its end; its exit code and everything it printed. */
async function run(script: string, env: ProcessEnv, args: string[] = []): Promise<{ code: number | null; output: string }> {
  const proc = spawnProcess({ name: script, script, args, env });
  const exit = await proc.exited;
  return { code: exit.code, output: proc.lines.map((l) => l.text).join('\n') };
}

// Ports 0 and a fresh data directory: a setting that was wrongly accepted would start a server
// that cannot collide with anything (and the test then fails on its exit code).
const serverEnv = (): ProcessEnv => ({ ST_HTTP_PORT: '0', ST_GRPC_PORT: '0', ST_DATA_DIR: makeTempDir('st-bad-settings-') });
const agentEnv: ProcessEnv = { ST_BROKER_URL: 'http://127.0.0.1:1', ST_TUNNEL_TOKEN: 'st_agent_x' };

const cases: { app: string; script: string; env: () => ProcessEnv; args?: string[]; setting: string; says: RegExp }[] = [
  { app: 'st-server', script: bin('server', 'st-server.js'), env: () => ({ ...serverEnv(), ST_HTTP_PORT: 'abc' }), setting: 'ST_HTTP_PORT', says: /port from 0 to 65535/ },
  { app: 'st-server', script: bin('server', 'st-server.js'), env: () => ({ ...serverEnv(), ST_LOG_LEVEL: 'verbose' }), setting: 'ST_LOG_LEVEL', says: /one of fatal, error, warn, info, debug, trace, silent/ },
  { app: 'st-server', script: bin('server', 'st-server.js'), env: () => ({ ...serverEnv(), ST_SHUTDOWN_GRACE_MS: 'soon' }), setting: 'ST_SHUTDOWN_GRACE_MS', says: /milliseconds/ },
  { app: 'st-server', script: bin('server', 'st-server.js'), env: () => ({ ...serverEnv(), ST_MAX_BODY: 'lots' }), setting: 'ST_MAX_BODY', says: /size such as/ },
  { app: 'st-server', script: bin('server', 'st-server.js'), env: serverEnv, args: ['--http-port', '99999'], setting: '--http-port', says: /port from 0 to 65535/ },
  { app: 'st-broker', script: bin('broker', 'st-broker.js'), env: () => ({ ...serverEnv(), ST_GRPC_PORT: 'abc' }), setting: 'ST_GRPC_PORT', says: /port from 0 to 65535/ },
  { app: 'st-broker', script: bin('broker', 'st-broker.js'), env: () => ({ ...serverEnv(), ST_LOG_LEVEL: 'verbose' }), setting: 'ST_LOG_LEVEL', says: /one of fatal/ },
  { app: 'st-gateway', script: bin('gateway', 'st-gateway.js'), env: () => ({ ...serverEnv(), ST_HTTP_PORT: 'abc' }), setting: 'ST_HTTP_PORT', says: /port from 0 to 65535/ },
  { app: 'st-gateway', script: bin('gateway', 'st-gateway.js'), env: () => ({ ...serverEnv(), ST_FIRST_BYTE_TIMEOUT_MS: '1.5' }), setting: 'ST_FIRST_BYTE_TIMEOUT_MS', says: /milliseconds/ },
  { app: 'st-agent', script: bin('agent', 'st-agent.js'), env: () => ({ ...agentEnv, ST_LOG_LEVEL: 'verbose' }), setting: 'ST_LOG_LEVEL', says: /one of fatal/ },
  { app: 'st-agent', script: bin('agent', 'st-agent.js'), env: () => ({ ...agentEnv, ST_DRAIN_GRACE_MS: 'soon' }), setting: 'ST_DRAIN_GRACE_MS', says: /milliseconds/ },
  { app: 'st-agent', script: bin('agent', 'st-agent.js'), env: () => ({ ...agentEnv, ST_UPSTREAM_URL: 'localhost:8000' }), setting: 'ST_UPSTREAM_URL', says: /http:\/\/ or https:\/\/ URL/ },
  { app: 'st-mock-model', script: bin('mock-model', 'st-mock-model.js'), env: () => ({ ST_MOCK_PORT: 'abc' }), setting: 'ST_MOCK_PORT', says: /port from 0 to 65535/ },
  { app: 'st-mock-model', script: bin('mock-model', 'st-mock-model.js'), env: () => ({ ST_MOCK_PORT: '0', ST_MOCK_MAX_TOKENS: 'x' }), setting: 'ST_MOCK_MAX_TOKENS', says: /whole number of tokens/ },
  { app: 'st-mock-model', script: bin('mock-model', 'st-mock-model.js'), env: () => ({ ST_MOCK_PORT: '0', ST_LOG_LEVEL: 'verbose' }), setting: 'ST_LOG_LEVEL', says: /one of fatal/ },
  { app: 'stctl', script: bin('cli', 'stctl.js'), env: () => ({ ST_API_KEY: 'st_key_x', ST_SERVER: 'not an address' }), args: ['providers', 'list'], setting: 'ST_SERVER', says: /give host:port/ },
  { app: 'stctl', script: bin('cli', 'stctl.js'), env: () => ({ ST_API_KEY: 'st_key_x' }), args: ['--server', 'grpcs://h:1', 'providers', 'list'], setting: '--server', says: /plaintext gRPC/ },
];

describe('an invalid setting stops each process with exit 2, naming the setting and the fix', () => {
  it.each(cases)('$app: $setting', async ({ script, env, args, setting, says }) => {
    const { code, output } = await run(script, env(), args);
    expect(output).toContain(setting);
    expect(output).toMatch(says);
    expect(output).not.toMatch(RAW);
    expect(code).toBe(2);
  });
});
