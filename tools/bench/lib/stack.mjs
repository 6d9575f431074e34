// Starts the product's binaries exactly as a user would: the mock model server, st-server (after
// `demo-init` in a temp data dir) and st-agent dialling it, all on 127.0.0.1.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitForHttp } from './ssh-tunnel.mjs';

const execFileP = promisify(execFile);

export const APPS = ['mock-model', 'server', 'agent'];

export function binPath(root, app) {
  const name = app === 'mock-model' ? 'st-mock-model' : `st-${app}`;
  return join(root, 'apps', app, 'bin', `${name}.js`);
}

/** Apps whose bundle is missing (the bench needs `npx nx run-many -t build` first). */
export function missingBuilds(root) {
  return APPS.filter((app) => !existsSync(join(root, 'apps', app, 'dist', 'main.js')));
}

export function baseEnv(extra) {
  // The product's settings come only from what the bench sets, not from the caller's shell.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ST_') && k !== 'NODE_OPTIONS'));
  return { ...env, ST_LOG_LEVEL: 'warn', ...extra };
}

/** The mock model server; `tokenDelayMs` spaces streamed tokens (default 0: as fast as it can). */
export async function startMock(procs, root, { tokenDelayMs = 0 } = {}) {
  const entry = procs.spawn('st-mock-model', process.execPath, [binPath(root, 'mock-model')], {
    cwd: root,
    env: baseEnv({ ST_MOCK_PORT: '0', ST_MOCK_HOST: '127.0.0.1', ST_MOCK_TOKEN_DELAY_MS: String(tokenDelayMs), ST_MOCK_FIRST_TOKEN_DELAY_MS: '0', ST_MOCK_MAX_TOKENS: '16' }),
  });
  const m = await procs.waitForLine(entry, /st-mock-model listening on (http:\/\/127\.0\.0\.1:(\d+))/, 15_000);
  return { entry, url: m[1], port: Number(m[2]) };
}

/**
 * st-server + st-agent. `nodeArgsFor(name)` gives node flags for 'st-server' / 'st-agent' (e.g.
 * --cpu-prof with a directory per process); `serverEnv` and `agentEnv` add settings to each;
 * `brokerAddressFor(grpcPort)` gives the host:port the agent dials (default the broker itself).
 * Returns the entries, the gateway origin, the tunnel's path prefix and the caller's headers.
 */
export async function startTunnel(procs, root, upstreamUrl, { nodeArgsFor = () => [], serverEnv = {}, agentEnv = {}, brokerAddressFor = (grpcPort) => `127.0.0.1:${grpcPort}` } = {}) {
  const dataDir = procs.tmpDir('data');
  const serverBin = binPath(root, 'server');
  const { stdout } = await execFileP(process.execPath, [serverBin, 'demo-init'], {
    cwd: root,
    env: baseEnv({ ST_DATA_DIR: dataDir }),
    timeout: 30_000,
  });
  const demo = JSON.parse(stdout.trim().split('\n').pop());
  for (const key of ['tunnelId', 'apiKey', 'agentToken']) {
    if (typeof demo[key] !== 'string') throw new Error(`st-server demo-init printed no ${key}: ${stdout}`);
  }

  const server = procs.spawn('st-server', process.execPath, [...nodeArgsFor('st-server'), serverBin], {
    cwd: root,
    env: baseEnv({
      ST_DATA_DIR: dataDir,
      ST_HOST: '127.0.0.1',
      ST_HTTP_PORT: '0',
      ST_GRPC_PORT: '0',
      ST_SHUTDOWN_GRACE_MS: '1000',
      // One user at c=64 sends thousands of requests/s over 64 keep-alive connections: lift the
      // per-user rate limit and the per-connection request cap, which the bench would otherwise hit.
      ST_LIMIT_USER_RPS: '0',
      ST_MAX_REQUESTS_PER_CONNECTION: '0',
      ...serverEnv,
    }),
  });
  const m = await procs.waitForLine(server, /st-server ready: gateway (http:\/\/127\.0\.0\.1:\d+) grpc 127\.0\.0\.1:(\d+)/, Number(process.env.BENCH_READY_MS || 20_000));
  const gateway = m[1];
  const grpcPort = Number(m[2]);

  const agent = procs.spawn('st-agent', process.execPath, [...nodeArgsFor('st-agent'), binPath(root, 'agent')], {
    cwd: root,
    env: baseEnv({
      // The far section puts a delay proxy between the agent and the broker (brokerAddressFor).
      ST_BROKER_URL: `http://${await brokerAddressFor(grpcPort)}`,
      ST_TUNNEL_TOKEN: demo.agentToken,
      ST_UPSTREAM_URL: upstreamUrl,
      ST_DRAIN_GRACE_MS: '1000',
      ...agentEnv,
    }),
  });
  const prefix = `/t/${demo.tunnelId}`;
  const headers = { authorization: `Bearer ${demo.apiKey}` };
  try {
    await waitForHttp(`${gateway}${prefix}/v1/models`, agent, 20_000, headers);
  } catch (err) {
    throw new Error(`the tunnel did not start serving: ${err.message}\n  st-server said: ${server.tail.trim() || '(nothing)'}`);
  }
  return { server, agent, gateway, grpcPort, prefix, headers, tunnelId: demo.tunnelId };
}

/** Another st-agent for a tunnel (the abuse section's attacker serves her own tunnel with one). */
export function startAgent(procs, root, name, { grpcPort, token, upstreamUrl }) {
  return procs.spawn(name, process.execPath, [binPath(root, 'agent')], {
    cwd: root,
    env: baseEnv({ ST_BROKER_URL: `http://127.0.0.1:${grpcPort}`, ST_TUNNEL_TOKEN: token, ST_UPSTREAM_URL: upstreamUrl, ST_DRAIN_GRACE_MS: '1000' }),
  });
}
